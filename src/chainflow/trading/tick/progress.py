"""How far the tick hot path has run each key: the order between ticks and bar closes.

A bar closes on the hot path at the first tick of the next bar (``trading.tick.path``); the
bar-close path (bridge bar → features → ml prediction → ``TradingService.on_prediction``)
runs beside it. ``TickProgress`` records, when a batch of the tick path has finished, the
open time of the last closed bar each of its keys ran on and how many ticks it processed.
``scored_through`` lets the bar-close decision wait (bounded) until the tick that closed
its bar was scored and marked on the paper account, so that the decision's hysteresis step
and paper order always come after that tick: the same ticks then give the same signals,
fills and account whatever the timing (``chainflow demo`` relies on it to be reproducible).
A key's first batch counts from its start (``begin``): its state is built then, while the
bar-close path may already be deciding the bar that batch's first tick closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Key = tuple[str, str]  # tenant, symbol


class TickProgress:
    """The last closed bar of each key the tick path keeps, and its finished ticks."""

    def __init__(self) -> None:
        self.processed_ticks = 0
        self._bars: dict[Key, tuple[str | None, int]] = {}  # timeframe, last closed bar's ts
        self._changed = asyncio.Condition()

    def begin(self, key: Key) -> None:
        """Mark ``key`` as being run for the first time (its timeframe not known yet)."""
        self._bars.setdefault(key, (None, -1))

    def track(self, key: Key, timeframe: str) -> None:
        """Start tracking ``key`` in ``timeframe`` (its state was just built)."""
        self._bars[key] = (timeframe, -1)

    def keys(self) -> list[Key]:
        return list(self._bars)

    def forget(self, key: Key) -> None:
        """Stop tracking ``key`` (kept by another replica now): nothing waits for it here."""
        self._bars.pop(key, None)

    def scored_bar(self, key: Key) -> int | None:
        """Return the open time of the last closed bar a finished batch of ``key`` ran on."""
        entry = self._bars.get(key)
        return entry[1] if entry is not None and entry[1] >= 0 else None

    async def record(
        self, bars: dict[Key, tuple[str, int]], ticks: int, untracked: tuple[Key, ...] = ()
    ) -> None:
        """Record a finished batch: each key's timeframe and last closed bar, its ticks;
        ``untracked`` keys of the batch keep no state (no model serves them)."""
        self._bars.update(bars)
        for key in untracked:
            if self._bars.get(key, ("", 0))[0] is None:
                del self._bars[key]
        self.processed_ticks += ticks
        async with self._changed:
            self._changed.notify_all()

    async def scored_through(
        self, tenant_id: str, symbol: str, timeframe: str, bar_ts: int, *, timeout_s: float
    ) -> bool:
        """Wait until the tick that closed the bar ``bar_ts`` has been run through.

        True at once when the tick path keeps no state of the key in ``timeframe`` (bars
        without live ticks, another timeframe, no model); False after ``timeout_s``.
        """
        key = (tenant_id, symbol)

        def is_through() -> bool:
            entry = self._bars.get(key)
            if entry is None:
                return True
            if entry[0] is None:
                return False  # the key's first batch is running
            return entry[0] != timeframe or entry[1] >= bar_ts

        return await self.wait_for(is_through, timeout_s=timeout_s)

    async def wait_for(self, is_done: Callable[[], bool], *, timeout_s: float) -> bool:
        """Wait until ``is_done()`` holds, checked after each finished batch; False after
        ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(is_done)
        except TimeoutError:
            return False
        return True
