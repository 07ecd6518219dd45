"""Rows of a time-series table read in batches by keyset on ``ts`` (never the whole range).

Each batch is one ``scan`` from the cursor with a row limit. The rows of the batch's last
millisecond are held back and read again by the next batch (the cursor moves to that
millisecond), so rows sharing a ``ts`` are never split or repeated; a batch made only of
one millisecond reads that millisecond whole and moves past it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from chainflow.analytics.exports.datasets import ExportQuery, Row
from chainflow.core.ids import TenantId
from chainflow.storage.api import TableSpec, TimeSeriesStore


class TimeSeriesSource:
    """The rows of one table of the time-series store.

    ``series`` is the fixed series name of the table's rows (analytics tables) or None when
    the series is the query's symbol; ``symbol_column`` names the value column the symbol
    filters when the series is fixed.
    """

    def __init__(
        self,
        store: TimeSeriesStore,
        spec: TableSpec,
        *,
        series: str | None = None,
        symbol_column: str | None = None,
    ) -> None:
        self._store = store
        self._spec = spec
        self._series = series
        self._symbol_column = symbol_column

    def _where(self, query: ExportQuery) -> dict[str, str | int]:
        where: dict[str, str | int] = {}
        if self._series is not None and query.symbol and self._symbol_column:
            where[self._symbol_column] = query.symbol
        if query.timeframe and "timeframe" in self._spec.column_names:
            where["timeframe"] = query.timeframe
        return where

    async def batches(self, query: ExportQuery, batch_rows: int) -> AsyncIterator[Sequence[Row]]:
        series = self._series or query.symbol
        if not series:
            return
        await self._store.ensure_table(self._spec)
        where = self._where(query)
        tenant, cursor, end = query.tenant_id, query.start_ms, query.end_ms
        while cursor < end:
            rows = await self._scan(tenant, series, cursor, end, batch_rows, where)
            if len(rows) < batch_rows:
                if rows:
                    yield rows
                return
            last_ts = int(rows[-1]["ts"])
            head = [row for row in rows if int(row["ts"]) < last_ts]
            if head:
                yield head
                cursor = last_ts
            else:
                yield await self._scan(tenant, series, last_ts, last_ts + 1, None, where)
                cursor = last_ts + 1

    async def _scan(
        self,
        tenant_id: str,
        series: str,
        start_ms: int,
        end_ms: int,
        limit: int | None,
        where: Mapping[str, str | int],
    ) -> list[dict[str, Any]]:
        return await self._store.scan(
            self._spec.name,
            tenant_id=TenantId(tenant_id),
            symbol=series,
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            where=where or None,
        )
