"""Business intelligence for superadmins: a platform snapshot kept current in the background.

A BI query answers from the last snapshot in memory (microseconds). The snapshot is
recomputed every ``refresh_interval_s`` (and on demand): billing's history in one read,
the monthly usage rollup brought up to date (``bi.usage``), terminals from the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable

from chainflow.analytics.bi.months import month_of
from chainflow.analytics.bi.snapshot import PlatformSnapshot, build_snapshot
from chainflow.analytics.bi.terminals import TerminalTracker
from chainflow.analytics.bi.usage import DailyUsageSource, MonthlyUsageRollup
from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.hub.api import BusMessage, EventBus, Subscription
from chainflow.storage.api import TimeSeriesStore
from chainflow.users.api import PlatformHistory

log = get_logger("chainflow.analytics.bi")

PlatformRecords = Callable[[], Awaitable[PlatformHistory]]
DEFAULT_MONTHS = 12
DEFAULT_REFRESH_INTERVAL_S = 300.0


class BiService:
    """The platform snapshot; see the module doc."""

    def __init__(
        self,
        *,
        store: TimeSeriesStore,
        bus: EventBus,
        clock: Clock,
        platform: PlatformRecords,
        usage: DailyUsageSource,
        frames_subject: str | None = None,
        months: int = DEFAULT_MONTHS,
        refresh_interval_s: float = DEFAULT_REFRESH_INTERVAL_S,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._platform = platform
        self._frames_subject = frames_subject
        self._months = months
        self._interval_s = refresh_interval_s
        self.rollup = MonthlyUsageRollup(store, usage)
        self.terminals = TerminalTracker()
        self._snapshot: PlatformSnapshot | None = None
        self._lock = asyncio.Lock()
        self._subscription: Subscription | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._frames_subject is not None:
            self._subscription = await self._bus.subscribe(self._frames_subject, self.on_frames)
        self._refresher = asyncio.create_task(self._refresh_forever(), name="analytics-bi")

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    async def on_frames(self, message: BusMessage) -> None:
        """Note the connection of a per-tick frames message as an active terminal."""
        self.terminals.record(message.subject, self._clock.now_ms())

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # the next round retries; the last snapshot stays
                log.exception("analytics_bi_refresh_failed")
            await asyncio.sleep(self._interval_s)

    async def snapshot(self) -> PlatformSnapshot:
        """Return the last snapshot (computing the first one if there is none yet)."""
        return self._snapshot if self._snapshot is not None else await self.refresh()

    async def refresh(self) -> PlatformSnapshot:
        """Recompute the snapshot now and return it."""
        async with self._lock:
            started = time.perf_counter()
            now = self._clock.now()
            history = await self._platform()
            signups = {t.tenant_id: month_of(t.created_at) for t in history.tenants}
            await self.rollup.refresh(signups, month_of(now))
            snapshot = build_snapshot(
                history,
                self.rollup.months,
                self.terminals.active(self._clock.now_ms()),
                now=now,
                months=self._months,
            )
            elapsed_ms = (time.perf_counter() - started) * 1000
            snapshot = dataclasses.replace(snapshot, computed_in_ms=round(elapsed_ms, 3))
            self._snapshot = snapshot
            return snapshot
