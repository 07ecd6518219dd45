"""Usage metering: ticks and messages per tenant per UTC day, persisted for billing.

Counting is a dict update on the hot path; a background task appends the counts to the
``usage`` time-series table every ``FLUSH_INTERVAL_S`` (and at shutdown). A day's total is
the sum of its rows, so processes and restarts simply add rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.periodic import Periodic
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore

DAY_MS = 86_400_000
FLUSH_INTERVAL_S = 10.0
ALL_SYMBOLS = "*"
USAGE_TABLE = TableSpec(
    "usage",
    (ColumnSpec("ticks", ColumnType.INT64), ColumnSpec("messages", ColumnType.INT64)),
)


class UsageRecorder(Protocol):
    """What an ingest session counts into: ``UsageMeter``, or a session's ``TerminalMeter``."""

    def record(self, tenant_id: str, *, ticks: int, messages: int) -> None: ...


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day_ms: int
    ticks: int
    messages: int


class UsageMeter:
    """Count per (tenant, day) in memory; ``flush`` appends the counts to the store."""

    def __init__(self, *, store: TimeSeriesStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._pending: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        self._flusher = Periodic("bridge.flush_usage", FLUSH_INTERVAL_S, self.flush)

    def record(self, tenant_id: str, *, ticks: int, messages: int) -> None:
        day = self._clock.now_ms() // DAY_MS * DAY_MS
        counts = self._pending[(tenant_id, day)]
        counts[0] += ticks
        counts[1] += messages

    async def flush(self) -> int:
        """Persist the pending counts; return how many rows were written."""
        pending, self._pending = self._pending, defaultdict(lambda: [0, 0])
        if not pending:
            return 0
        rows = [
            {"tenant_id": tenant, "symbol": ALL_SYMBOLS, "ts": day, "ticks": t, "messages": m}
            for (tenant, day), (t, m) in pending.items()
        ]
        await self._store.ensure_table(USAGE_TABLE)
        return await self._store.append(USAGE_TABLE.name, rows)

    async def daily(self, tenant_id: TenantId, days: int) -> list[DailyUsage]:
        """Return the last ``days`` UTC days of usage, today last (pending counts included)."""
        await self.flush()
        today = self._clock.now_ms() // DAY_MS * DAY_MS
        start = today - (days - 1) * DAY_MS
        rows = await self._store.scan(
            USAGE_TABLE.name,
            tenant_id=tenant_id,
            symbol=ALL_SYMBOLS,
            start_ms=start,
            end_ms=today + DAY_MS,
        )
        totals: dict[int, list[int]] = {start + i * DAY_MS: [0, 0] for i in range(days)}
        for row in rows:
            totals[row["ts"]][0] += row["ticks"]
            totals[row["ts"]][1] += row["messages"]
        return [DailyUsage(day, t, m) for day, (t, m) in sorted(totals.items())]

    async def start(self) -> None:
        await self._store.ensure_table(USAGE_TABLE)
        self._flusher.start()

    async def stop(self) -> None:
        await self._flusher.stop()
        await self.flush()
