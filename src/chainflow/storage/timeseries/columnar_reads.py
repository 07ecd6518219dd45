"""The columnar half of the store template: range reads returned as arrays, not rows.

``TimeSeriesStoreBase`` inherits these reads; a backend supplies two engine steps,
``_select_columns`` and ``_select_bar_columns``, that run the same SQL as its row steps
and return the engine's own arrays (DuckDB ``fetchnumpy``, ClickHouse Arrow or native
columns). Validation, ranges (``start_ms <= ts < end_ms``), tenant filtering and order are
the row path's: each read returns exactly what its row twin returns, shaped as columns.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from numpy.typing import NDArray

from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.storage.api import TICKS_TABLE, TableSpec
from chainflow.storage.timeseries.columns import (
    BAR_COLUMN_TYPES,
    TICK_COLUMN_TYPES,
    BarColumns,
    Column,
    TickColumns,
    empty_columns,
    spec_types,
    typed_columns,
)
from chainflow.storage.timeseries.range_query import (
    RangeQuery,
    check_timeframe,
    check_where,
    range_query,
)
from chainflow.storage.timeseries.tables import TableCatalog

_T = TypeVar("_T")
_TICK_COLUMNS = ("ts", "bid", "ask", "volume")


class ColumnarReads(abc.ABC):
    """``read_tick_columns``, ``read_bar_columns`` and ``scan_columns`` of a store."""

    _catalog: TableCatalog

    # --- engine-specific steps -------------------------------------------------------------

    @abc.abstractmethod
    async def _select_columns(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[NDArray[Any]]:
        """Return one array per name of ``columns`` (in that order) for the rows ``query``
        selects, ordered by ts: the rows ``_select_rows`` returns, as columns."""

    @abc.abstractmethod
    async def _select_bar_columns(self, query: RangeQuery, width_ms: int) -> Sequence[NDArray[Any]]:
        """Return (bucket, open, high, low, close, volume, tick_count) arrays by bucket."""

    # --- provided by the store ---------------------------------------------------------------

    @abc.abstractmethod
    async def _run_read(self, read: Callable[[], Awaitable[_T]]) -> _T: ...

    @abc.abstractmethod
    def _require_open(self, action: str) -> None: ...

    # --- the reads ---------------------------------------------------------------------------

    async def read_tick_columns(
        self, tenant_id: TenantId, symbol: str, start_ms: int, end_ms: int
    ) -> TickColumns:
        """Return the ticks ``scan_ticks`` returns for the range, as ``TickColumns``."""
        self._require_open("read tick columns")
        query = range_query(tenant_id, symbol, start_ms, end_ms, None, False)
        if query is None:
            return TickColumns.of(symbol, empty_columns(TICK_COLUMN_TYPES))
        arrays = await self._run_read(
            lambda: self._select_columns(TICKS_TABLE, _TICK_COLUMNS, query)
        )
        return TickColumns.of(query.symbol, typed_columns(arrays, TICK_COLUMN_TYPES))

    async def read_bar_columns(
        self,
        tenant_id: TenantId,
        symbol: str,
        timeframe: Timeframe,
        start_ms: int,
        end_ms: int,
    ) -> BarColumns:
        """Return the bars ``ohlcv`` returns for the range, as ``BarColumns``."""
        self._require_open("read bar columns")
        check_timeframe(timeframe)
        query = range_query(tenant_id, symbol, start_ms, end_ms, None, False)
        if query is None:
            return BarColumns.of(symbol, timeframe, empty_columns(BAR_COLUMN_TYPES))
        width = timeframe.milliseconds
        arrays = await self._run_read(lambda: self._select_bar_columns(query, width))
        return BarColumns.of(query.symbol, timeframe, typed_columns(arrays, BAR_COLUMN_TYPES))

    async def scan_columns(
        self,
        table: str,
        *,
        tenant_id: TenantId,
        symbol: str,
        start_ms: int,
        end_ms: int,
        limit: int | None = None,
        descending: bool = False,
        where: Mapping[str, str | int] | None = None,
        columns: Sequence[str] | None = None,
    ) -> dict[str, Column]:
        """Return the rows ``scan`` returns (same arguments, same order), as one array per
        column: INT64 as int64, FLOAT64 as float64, STRING as ``str`` objects.

        ``columns`` picks the columns (in that order; default every column of the table):
        a bulk reader skips the key strings it already knows.
        """
        self._require_open(f"scan {table!r}")
        spec = self._catalog.get(table)
        names = spec.column_names if columns is None else tuple(columns)
        types = spec_types(spec, names)
        query = range_query(tenant_id, symbol, start_ms, end_ms, limit, descending)
        if query is None:
            return dict(zip(names, empty_columns(types), strict=True))
        if where:
            query = replace(query, where=check_where(spec, where))
        arrays = await self._run_read(lambda: self._select_columns(spec, names, query))
        return dict(zip(names, typed_columns(arrays, types), strict=True))
