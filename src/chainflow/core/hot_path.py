"""The tick path first: background work on the serving event loop waits for its turn.

One event loop serves the MT5 WebSockets, the per-tick hot path and, on the same loop,
the bar-close work (the bus's durable consumers: features, ml, the bar-close signals,
notifications) and the Python lane's state builds. asyncio runs whatever is ready in
arrival order, so at an aligned bar close hundreds of bar-close handlers would be queued
ahead of the next tick. ``HotPathGate`` gives the ticks priority without a second loop:

- the hot path calls ``enter()`` when it has ticks queued and ``leave()`` when it has
  drained them;
- background work awaits ``turn()`` before each unit (one bus message, one state build):
  it returns at once while the hot path is idle, otherwise when the hot path drains or
  after ``max_wait_s`` (so background work is slowed under load, never starved).

A tick therefore waits for at most one background unit already running, not for the whole
burst. One gate per event loop (``gate()``), as the loop is what is shared.
"""

from __future__ import annotations

import asyncio
from collections import deque

DEFAULT_MAX_WAIT_S = 0.02


class HotPathGate:
    """Whether the hot path has work queued; background work waits on it (module doc)."""

    def __init__(self, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        if not max_wait_s > 0:
            raise ValueError(f"expected max_wait_s > 0; received {max_wait_s}")
        self.max_wait_s = max_wait_s
        self._hot = False
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.waits = 0  # background turns that had to wait (tests and metrics)
        self.timeouts = 0  # of which ran after max_wait_s, the hot path still busy

    @property
    def hot(self) -> bool:
        return self._hot

    def enter(self) -> None:
        """The hot path has work queued."""
        self._hot = True

    def leave(self) -> None:
        """The hot path drained its queue: background work waiting may run."""
        self._hot = False
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def turn(self) -> None:
        """Return when background work may run one unit (see the module doc)."""
        if not self._hot:
            return
        self.waits += 1
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.max_wait_s, self._expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()

    def _expire(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.timeouts += 1
            waiter.set_result(None)


_gates: dict[asyncio.AbstractEventLoop, HotPathGate] = {}


def gate() -> HotPathGate:
    """The gate of the running event loop (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _gates.get(loop)
    if found is None:
        for stale in [other for other in _gates if other.is_closed()]:
            del _gates[stale]
        found = _gates[loop] = HotPathGate()
    return found
