"""The analytics service: rollups kept current from the trade source, dashboard queries.

- **Incremental.** ``catch_up(tenant)`` takes the tenant's closed trades past its cursor
  from the ``TradeSource`` (the paper desk in one process), adds them to the in-memory
  rollups and writes the raw trades, the touched rollup rows and the cursor to the
  time-series store. It runs every ``sync_interval_s`` for every tenant of the source and
  before each query of a tenant (cheap when nothing is new), so answers are current.
- **Rebuild.** ``rebuild_rollups(tenant)`` recomputes every rollup row from the raw trade
  rows. A tenant whose raw rows ran ahead of its cursor (a write cut short) is rebuilt
  when first loaded.
- **Queries** read the tenant's rollups: loaded from the rollup tables once per process
  and kept equal to them by every write above (never the raw trades), so a dashboard
  query does no I/O once a tenant is loaded.
- **Latency** is sampled from the per-tick frames on the bus (``analytics.latency``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from chainflow.analytics.api import ClosedTrade, TradeSource
from chainflow.analytics.errors import InvalidWindowError
from chainflow.analytics.latency import LatencyRecorder
from chainflow.analytics.performance import (
    EquityPoint,
    Period,
    PeriodReturn,
    WindowRatios,
    equity_curve,
    returns_by_period,
    window_ratios,
)
from chainflow.analytics.repository import AnalyticsRepository, ensure_tables
from chainflow.analytics.rollups import Figures, TenantRollup, day_of, rollup_of
from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.settings import AnalyticsSettings
from chainflow.hub.api import BusMessage, EventBus, Subscription
from chainflow.storage.api import TimeSeriesStore

log = get_logger("chainflow.analytics.service")

DEFAULT_WINDOWS = "30,90,365,all"
MAX_WINDOWS = 8


def parse_windows(text: str) -> list[int | None]:
    """Return the windows of ``"30,90,all"`` (days; None = everything)."""
    windows: list[int | None] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if part == "all":
            windows.append(None)
        elif part.isdigit() and 0 < int(part) <= 36_500:
            windows.append(int(part))
        else:
            raise InvalidWindowError(
                f"window must be comma-separated day counts (1..36500) or 'all'; received {text!r}"
            )
    if not windows or len(windows) > MAX_WINDOWS:
        raise InvalidWindowError(
            f"window must name 1 to {MAX_WINDOWS} windows; received {len(windows)} in {text!r}"
        )
    return windows


class AnalyticsService:
    """Trading analytics of every tenant; see the module doc."""

    def __init__(
        self,
        *,
        store: TimeSeriesStore,
        bus: EventBus,
        source: TradeSource,
        clock: Clock,
        settings: AnalyticsSettings,
        frames_subject: str | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._source = source
        self._clock = clock
        self._settings = settings
        self._frames_subject = frames_subject
        self.latency = LatencyRecorder(
            reservoir=settings.latency_reservoir, seed=settings.latency_seed
        )
        self._rollups: dict[str, TenantRollup] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._subscription: Subscription | None = None
        self._syncer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_tables(self._store)
        if self._frames_subject is not None:
            self._subscription = await self._bus.subscribe(self._frames_subject, self.on_frames)
        self._syncer = asyncio.create_task(self._sync_forever(), name="analytics-sync")

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
            self._syncer = None
        with contextlib.suppress(Exception):  # a clean stop writes what is closed
            await self.sync_all()

    async def on_frames(self, message: BusMessage) -> None:
        """Sample the latency of a connection message's ``signal`` frames."""
        self.latency.record_message(message.subject, message.data)

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.sync_interval_s)
            try:
                await self.sync_all()
            except Exception:  # the next round retries; the cursor did not move
                log.exception("analytics_sync_failed")

    async def sync_all(self) -> int:
        """Catch every tenant of the source up; return how many trades were added."""
        added = 0
        for tenant_id in list(self._source.tenants()):
            added += await self.catch_up(tenant_id)
        return added

    async def catch_up(self, tenant_id: str) -> int:
        """Add the tenant's closed trades past its cursor; return how many."""
        async with self._lock(tenant_id):
            rollup = await self._loaded(tenant_id)
            trades = self._source.closed_trades(tenant_id, rollup.next_seq)
            return await self._apply(tenant_id, rollup, trades)

    async def ingest(self, tenant_id: str, trades: Sequence[ClosedTrade]) -> int:
        """Add closed trades given directly (a bus consumer, an import); return how many
        were new (a seq before the cursor was added before)."""
        async with self._lock(tenant_id):
            return await self._apply(tenant_id, await self._loaded(tenant_id), trades)

    async def rebuild_rollups(self, tenant_id: str) -> int:
        """Recompute the tenant's rollups from its raw trade rows; return how many trades."""
        async with self._lock(tenant_id):
            return await self._rebuild(tenant_id)

    async def _rebuild(self, tenant_id: str) -> int:
        repository = AnalyticsRepository(self._store, tenant_id)
        trades = await repository.raw_trades()
        rollup = rollup_of(trades)
        await repository.save_rollups(rollup, rollup.daily, rollup.breakdown)
        self._rollups[tenant_id] = rollup
        return len(trades)

    async def _apply(
        self, tenant_id: str, rollup: TenantRollup, trades: Sequence[ClosedTrade]
    ) -> int:
        if not trades:
            return 0
        changed = rollup.apply(trades)
        if changed.trades:
            await AnalyticsRepository(self._store, tenant_id).save(rollup, changed)
        return len(changed.trades)

    def _lock(self, tenant_id: str) -> asyncio.Lock:
        return self._locks.setdefault(tenant_id, asyncio.Lock())

    async def _loaded(self, tenant_id: str) -> TenantRollup:
        found = self._rollups.get(tenant_id)
        if found is not None:
            return found
        repository = AnalyticsRepository(self._store, tenant_id)
        rollup = await repository.load()
        last_raw = await repository.last_raw_seq()
        if last_raw is not None and last_raw >= rollup.next_seq:
            log.warning("analytics_rollups_behind_raw", tenant_id=tenant_id, last_raw=last_raw)
            await self._rebuild(tenant_id)
            return self._rollups[tenant_id]
        self._rollups[tenant_id] = rollup
        return rollup

    # Queries ------------------------------------------------------------------------------
    async def _current(self, tenant_id: str) -> TenantRollup:
        await self.catch_up(tenant_id)
        return self._rollups[tenant_id]

    async def _daily(self, tenant_id: str) -> list[tuple[int, Figures]]:
        return sorted((await self._current(tenant_id)).daily.items())

    def starting_balance(self, tenant_id: str) -> float:
        return self._source.starting_balance(tenant_id)

    async def equity(self, tenant_id: str) -> list[EquityPoint]:
        """Return the closed-trade equity and drawdown at the end of each trading day."""
        return equity_curve(await self._daily(tenant_id), self.starting_balance(tenant_id))

    async def returns(self, tenant_id: str, period: Period) -> list[PeriodReturn]:
        """Return the realized P&L and return of each day, week or month with trades."""
        daily = await self._daily(tenant_id)
        return returns_by_period(daily, self.starting_balance(tenant_id), period)

    async def ratios(self, tenant_id: str, windows: str = DEFAULT_WINDOWS) -> list[WindowRatios]:
        """Return Sharpe, Sortino and Calmar over each window of days ending today."""
        parsed = parse_windows(windows)
        daily = await self._daily(tenant_id)
        today = day_of(self._clock.now_ms())
        balance = self.starting_balance(tenant_id)
        rate = self._settings.risk_free_rate
        return [window_ratios(daily, balance, window, today, rate) for window in parsed]

    async def breakdown(self, tenant_id: str, by: str) -> list[tuple[str, Figures]]:
        """Return the realized figures per group of ``by``, best P&L first."""
        rollup = await self._current(tenant_id)
        rows = [(key, f) for (dimension, key), f in rollup.breakdown.items() if dimension == by]
        return sorted(rows, key=lambda row: (-row[1].pnl, row[0]))
