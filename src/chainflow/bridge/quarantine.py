"""The tenant's tick quarantine: implausible ticks kept aside, listed, and released on request.

``TickValidator`` decides what to hold (``bridge.price_sanity``); this module keeps it in the
``tick_quarantine`` time-series table, so that it survives restarts and scales with the
store. The table is append-only, like every time-series table: a tick is *held* by a row
with ``state = "held"`` and *released* by a later row with ``state = "released"`` for the
same (symbol, ts, bid, ask). A tick is listed while it has a held row and no released one.
Releasing stores the ticks in the ``ticks`` table (exactly once: the store skips a tick
already stored) and then appends the released rows, so a release interrupted between the
two is simply done again.

Released ticks reach ``GET /api/v1/market/bars`` (computed from the stored ticks); they are
not fed to streaming features or the persisted live bars, which have moved past them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chainflow.bridge.price_sanity import HeldTick, HoldReason
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore

QUARANTINE_TABLE = TableSpec(
    "tick_quarantine",
    (
        ColumnSpec("bid", ColumnType.FLOAT64),
        ColumnSpec("ask", ColumnType.FLOAT64),
        ColumnSpec("volume", ColumnType.FLOAT64),
        ColumnSpec("reason", ColumnType.STRING),
        ColumnSpec("state", ColumnType.STRING),
        ColumnSpec("recorded_at", ColumnType.INT64),
    ),
)
"""Quarantined ticks keyed by (tenant_id, symbol, ts); see the module docstring."""

HELD = "held"
RELEASED = "released"
SCAN_CHUNK_ROWS = 5_000
MAX_RELEASE_TICKS = 50_000


@dataclass(frozen=True, slots=True)
class QuarantinedTick:
    """A tick held in quarantine, why (a ``HoldReason`` value) and when (server epoch ms)."""

    tick: Tick
    reason: str
    held_at: int


@dataclass(frozen=True, slots=True)
class QuarantinePage:
    """Held ticks oldest first; ``next_start`` is where the next page starts, if any."""

    items: list[QuarantinedTick]
    next_start: int | None


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    """How many held ticks a release took, how many of them were new to the store."""

    released: int
    stored: int
    next_start: int | None


class TickQuarantine:
    """Hold, list and release one store's quarantined ticks, tenant by tenant."""

    def __init__(self, store: TimeSeriesStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def hold(self, tenant_id: TenantId, held: Sequence[HeldTick]) -> int:
        """Keep ``held`` ticks in the tenant's quarantine; return how many rows were added."""
        rows = [_row(tenant_id, h.tick, h.reason.value, HELD, self._clock.now_ms()) for h in held]
        return await self._append(rows)

    async def mark_released(
        self, tenant_id: TenantId, ticks: Sequence[Tick], reason: str = HoldReason.NEW_SYMBOL
    ) -> int:
        """Record held ``ticks`` (already stored) as released; return the rows added."""
        now = self._clock.now_ms()
        return await self._append([_row(tenant_id, t, reason, RELEASED, now) for t in ticks])

    async def list_held(
        self, tenant_id: TenantId, symbol: str, start_ms: int, end_ms: int, limit: int
    ) -> QuarantinePage:
        """Return up to ``limit`` ticks still held in ``[start_ms, end_ms)``, oldest first.

        A page never splits a millisecond, unless one millisecond alone holds more than
        ``limit`` ticks (the page then ends with ``limit`` of them).
        """
        await self._store.ensure_table(QUARANTINE_TABLE)
        items: list[QuarantinedTick] = []
        cursor = start_ms
        while cursor < end_ms and len(items) <= limit:
            rows, cursor = await self._scan_whole_ms(tenant_id, symbol, cursor, end_ms)
            items += _still_held(rows)
        if len(items) <= limit:
            return QuarantinePage(items, None)
        cut_ts = items[limit].tick.ts
        page = [item for item in items[:limit] if item.tick.ts < cut_ts]
        if page:
            return QuarantinePage(page, cut_ts)
        return QuarantinePage(items[:limit], cut_ts + 1)

    async def release(
        self,
        tenant_id: TenantId,
        symbol: str,
        start_ms: int,
        end_ms: int,
        limit: int = MAX_RELEASE_TICKS,
    ) -> ReleaseResult:
        """Store the ticks held in ``[start_ms, end_ms)`` (up to ``limit``) and release them."""
        page = await self.list_held(tenant_id, symbol, start_ms, end_ms, limit)
        if not page.items:
            return ReleaseResult(0, 0, page.next_start)
        stored = await self._store.append_ticks(tenant_id, [item.tick for item in page.items])
        now = self._clock.now_ms()
        rows = [_row(tenant_id, i.tick, i.reason, RELEASED, now) for i in page.items]
        await self._append(rows)
        return ReleaseResult(len(page.items), stored, page.next_start)

    async def _append(self, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        await self._store.ensure_table(QUARANTINE_TABLE)  # a dictionary lookup once declared
        return await self._store.append(QUARANTINE_TABLE.name, rows)

    async def _scan_whole_ms(
        self, tenant_id: TenantId, symbol: str, start_ms: int, end_ms: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Return the rows of whole milliseconds from ``start_ms`` on, and where to go on."""
        store = self._store
        table = QUARANTINE_TABLE.name
        rows = await store.scan(
            table,
            tenant_id=tenant_id,
            symbol=symbol,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=SCAN_CHUNK_ROWS,
        )
        if len(rows) < SCAN_CHUNK_ROWS:
            return rows, end_ms
        last_ts = rows[-1]["ts"]
        whole = [row for row in rows if row["ts"] < last_ts]
        if whole:
            return whole, last_ts
        # One millisecond holds a whole chunk: read all of it.
        rows = await store.scan(
            table, tenant_id=tenant_id, symbol=symbol, start_ms=last_ts, end_ms=last_ts + 1
        )
        return rows, last_ts + 1


def _row(tenant_id: TenantId, tick: Tick, reason: str, state: str, now_ms: int) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "symbol": tick.symbol,
        "ts": tick.ts,
        "bid": tick.bid,
        "ask": tick.ask,
        "volume": tick.volume,
        "reason": str(reason),
        "state": state,
        "recorded_at": now_ms,
    }


def _still_held(rows: list[dict[str, Any]]) -> list[QuarantinedTick]:
    """Return the first held row of each tick with no released row, in ts order."""
    released = {(r["ts"], r["bid"], r["ask"]) for r in rows if r["state"] == RELEASED}
    held: dict[tuple[int, float, float], QuarantinedTick] = {}
    for row in rows:
        key = (row["ts"], row["bid"], row["ask"])
        if row["state"] == HELD and key not in released and key not in held:
            tick = Tick(row["symbol"], row["ts"], row["bid"], row["ask"], row["volume"])
            held[key] = QuarantinedTick(tick, row["reason"], row["recorded_at"])
    return sorted(held.values(), key=lambda item: item.tick.ts)
