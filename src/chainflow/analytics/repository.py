"""Every read and write of the analytics tables (``analytics.tables``), for one tenant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chainflow.analytics.api import ClosedTrade
from chainflow.analytics.rollups import Changed, Figures, TenantRollup
from chainflow.analytics.tables import (
    ALL_TABLES,
    BREAKDOWN_TABLE,
    CURSOR_TABLE,
    DAILY_SERIES,
    DAILY_TABLE,
    DIMENSIONS,
    TRADES_SERIES,
    TRADES_TABLE,
)
from chainflow.core.ids import TenantId
from chainflow.storage.api import TimeSeriesStore

END_OF_TIME_MS = 2**62
REASON_SEPARATOR = "\n"


async def ensure_tables(store: TimeSeriesStore) -> None:
    """Create the analytics tables if missing (idempotent)."""
    for spec in ALL_TABLES:
        await store.ensure_table(spec)


def figures_of(row: Mapping[str, Any]) -> Figures:
    return Figures(
        pnl=float(row["pnl"]),
        gross_profit=float(row["gross_profit"]),
        gross_loss=float(row["gross_loss"]),
        trades=int(row["trades"]),
        wins=int(row["wins"]),
    )


def figure_columns(figures: Figures) -> dict[str, Any]:
    return {
        "pnl": figures.pnl,
        "gross_profit": figures.gross_profit,
        "gross_loss": figures.gross_loss,
        "trades": figures.trades,
        "wins": figures.wins,
    }


def trade_row(tenant_id: str, trade: ClosedTrade) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "symbol": TRADES_SERIES,
        "ts": trade.exit_ts,
        "seq": trade.seq,
        "trade_symbol": trade.symbol,
        "side": trade.side,
        "lots": trade.lots,
        "entry_ts": trade.entry_ts,
        "entry_price": trade.entry_price,
        "exit_price": trade.exit_price,
        "pnl": trade.pnl,
        "model": trade.model,
        "regime": trade.regime,
        "reasons": REASON_SEPARATOR.join(trade.reasons),
        "exit_reason": trade.exit_reason,
    }


def trade_of(row: Mapping[str, Any]) -> ClosedTrade:
    reasons = str(row["reasons"])
    return ClosedTrade(
        seq=int(row["seq"]),
        symbol=str(row["trade_symbol"]),
        side=str(row["side"]),
        lots=float(row["lots"]),
        entry_ts=int(row["entry_ts"]),
        exit_ts=int(row["ts"]),
        entry_price=float(row["entry_price"]),
        exit_price=float(row["exit_price"]),
        pnl=float(row["pnl"]),
        model=str(row["model"]),
        regime=str(row["regime"]),
        reasons=tuple(reasons.split(REASON_SEPARATOR)) if reasons else (),
        exit_reason=str(row["exit_reason"]),
    )


class AnalyticsRepository:
    """The analytics rows of one tenant."""

    def __init__(self, store: TimeSeriesStore, tenant_id: str) -> None:
        self._store = store
        self._tenant = TenantId(tenant_id)

    async def _scan(self, table: str, series: str, **options: Any) -> list[dict[str, Any]]:
        return await self._store.scan(
            table,
            tenant_id=self._tenant,
            symbol=series,
            start_ms=options.pop("start_ms", 0),
            end_ms=options.pop("end_ms", END_OF_TIME_MS),
            **options,
        )

    async def save(self, rollup: TenantRollup, changed: Changed) -> None:
        """Write the changed trades, then their rollup rows, then the cursor (in that order,
        so that a cursor never runs ahead of the raw rows)."""
        tenant = str(self._tenant)
        if changed.trades:
            await self._store.append(
                TRADES_TABLE.name, [trade_row(tenant, t) for t in changed.trades]
            )
        await self.save_rollups(rollup, changed.days, changed.keys)

    async def save_rollups(
        self,
        rollup: TenantRollup,
        days: Iterable[int],
        keys: Iterable[tuple[str, str]],
    ) -> None:
        """Write the given rollup rows of ``rollup`` and its cursor."""
        tenant = str(self._tenant)
        daily = [
            {"tenant_id": tenant, "symbol": DAILY_SERIES, "ts": day, **figure_columns(figures)}
            for day, figures in ((d, rollup.daily[d]) for d in sorted(days))
        ]
        breakdown = [
            {"tenant_id": tenant, "symbol": dimension, "ts": 0, "key": key, **figure_columns(f)}
            for (dimension, key), f in ((k, rollup.breakdown[k]) for k in sorted(keys))
        ]
        if daily:
            await self._store.append(DAILY_TABLE.name, daily)
        if breakdown:
            await self._store.append(BREAKDOWN_TABLE.name, breakdown)
        cursor = {
            "tenant_id": tenant,
            "symbol": TRADES_SERIES,
            "ts": 0,
            "next_seq": rollup.next_seq,
        }
        await self._store.append(CURSOR_TABLE.name, [cursor])

    async def cursor(self) -> int | None:
        """Return the stored next trade seq, None before the first write."""
        rows = await self._scan(CURSOR_TABLE.name, TRADES_SERIES, end_ms=1)
        return int(rows[-1]["next_seq"]) if rows else None

    async def last_raw_seq(self) -> int | None:
        """Return the highest seq among the newest raw trades (the last one written)."""
        rows = await self._scan(TRADES_TABLE.name, TRADES_SERIES, limit=16, descending=True)
        return max((int(r["seq"]) for r in rows), default=None)

    async def raw_trades(self) -> list[ClosedTrade]:
        """Return every stored closed trade of the tenant, in seq order."""
        rows = await self._scan(TRADES_TABLE.name, TRADES_SERIES)
        return sorted((trade_of(r) for r in rows), key=lambda t: t.seq)

    async def daily(
        self, start_ms: int = 0, end_ms: int = END_OF_TIME_MS
    ) -> list[tuple[int, Figures]]:
        """Return the daily rollup rows with ``start_ms <= day < end_ms``, oldest first."""
        rows = await self._scan(DAILY_TABLE.name, DAILY_SERIES, start_ms=start_ms, end_ms=end_ms)
        return [(int(r["ts"]), figures_of(r)) for r in rows]

    async def breakdown(self, dimension: str) -> list[tuple[str, Figures]]:
        """Return the breakdown rollup rows of ``dimension``."""
        rows = await self._scan(BREAKDOWN_TABLE.name, dimension, end_ms=1)
        return [(str(r["key"]), figures_of(r)) for r in rows]

    async def load(self) -> TenantRollup:
        """Return the tenant's rollups as stored (empty before the first write)."""
        rollup = TenantRollup(next_seq=await self.cursor() or 0)
        rollup.daily = dict(await self.daily())
        for dimension in DIMENSIONS:
            for key, figures in await self.breakdown(dimension):
                rollup.breakdown[(dimension, key)] = figures
        return rollup
