"""The ClickHouse time-series store: MergeTree tables, on a server or in-process (chDB).

The SQL comes from ``clickhouse_sql`` and runs through a ``ClickHouseExecutor``, so the
text a production ClickHouse server receives is the text the contract suite runs on chDB.
Appends are group-committed like every backend: one ``INSERT`` per table per batch, which
also keeps the number of MergeTree parts (one per insert and partition) low.

Durability is ClickHouse's: an append returns after the server (or chDB) has written the
insert's part. ClickHouse does not fsync parts by default (MergeTree setting
``fsync_after_insert``), so an OS crash right after an append can lose it; a process crash
cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from numpy.typing import NDArray

from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TableSpec
from chainflow.storage.timeseries.clickhouse_executor import ClickHouseExecutor
from chainflow.storage.timeseries.clickhouse_sql import (
    create_table_sql,
    describe_columns_sql,
    engine_type,
    insert_sql,
    select_bars_sql,
    select_rows_sql,
    table_engine_sql,
)
from chainflow.storage.timeseries.store_base import RangeQuery, TimeSeriesStoreBase
from chainflow.storage.timeseries.tables import EncodedRow, check_existing_columns


class ClickHouseTimeSeriesStore(TimeSeriesStoreBase):
    """Time series in ClickHouse MergeTree tables, through a server or chDB executor."""

    def __init__(self, executor: ClickHouseExecutor, settings: TimeSeriesSettings) -> None:
        self.backend = executor.backend
        super().__init__(settings, location=executor.location)
        self._executor = executor
        self._replacing: set[str] = set()

    async def _open(self) -> None:
        await self._executor.open()

    async def _close(self) -> None:
        await self._executor.close()

    async def _create_table(self, spec: TableSpec) -> None:
        await self._executor.execute(create_table_sql(spec))
        existing = await self._executor.fetch(describe_columns_sql(spec.name))
        check_existing_columns(spec, [(row[0], row[1]) for row in existing], engine_type)
        engine = await self._executor.fetch(table_engine_sql(spec.name))
        # A table created as a plain MergeTree before it was declared replacing keeps its
        # rows per revision; readers reduce them (e.g. ``bar_table.latest_bars``).
        if engine and str(engine[0][0]).startswith("Replacing"):
            self._replacing.add(spec.name)

    async def _commit(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        await self._executor.execute(insert_sql(spec, rows))

    async def _replace(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        # ReplacingMergeTree keeps the last row inserted per sorting key; FINAL reads merge.
        await self._executor.execute(insert_sql(spec, rows))

    async def _select_rows(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[Sequence[Any]]:
        final = spec.name in self._replacing
        return await self._executor.fetch(select_rows_sql(spec, columns, query, final=final))

    async def _select_bars(self, query: RangeQuery, width_ms: int) -> Sequence[Sequence[Any]]:
        return await self._executor.fetch(select_bars_sql(query, width_ms))

    async def _select_columns(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[NDArray[Any]]:
        final = spec.name in self._replacing
        sql = select_rows_sql(spec, columns, query, final=final)
        return await self._executor.fetch_columns(sql)

    async def _select_bar_columns(self, query: RangeQuery, width_ms: int) -> Sequence[NDArray[Any]]:
        return await self._executor.fetch_columns(select_bars_sql(query, width_ms))

    async def _ping(self) -> None:
        await self._executor.fetch("SELECT 1")
