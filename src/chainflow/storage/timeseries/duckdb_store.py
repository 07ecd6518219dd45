"""The embedded default time-series store: one DuckDB file, one writer thread.

Writes: every append goes through the group-commit writer; the rows a batch holds for one
table are inserted with one DuckDB Appender flush inside one explicit transaction, on a
dedicated writer thread that owns the writer cursor. Measured on DuckDB 2.0, an Appender
flush is ~25x faster than ``executemany`` at 100 rows and ~3x faster than
``INSERT ... SELECT unnest(?)`` at 1000 rows.

Reads run through ``asyncio.to_thread`` on one cursor per thread. DuckDB 2.x streams
results, so every statement's result is fetched in full before the cursor is used again.
Row reads and columnar reads run the same SQL and both fetch with ``fetchnumpy``; the
columnar ones hand its arrays over as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import duckdb
from numpy.typing import NDArray

from chainflow.core.errors import ConfigurationError, DependencyUnavailable
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TICKS_TABLE, ColumnSpec, ColumnType, TableSpec
from chainflow.storage.timeseries.store_base import RangeQuery, TimeSeriesStoreBase
from chainflow.storage.timeseries.tables import (
    EncodedRow,
    check_existing_columns,
    replace_key_indexes,
    validate_identifier,
)

MEMORY_PATH = ":memory:"
DUCKDB_TYPES: dict[ColumnType, str] = {
    ColumnType.INT64: "BIGINT",
    ColumnType.FLOAT64: "DOUBLE",
    ColumnType.STRING: "VARCHAR",
}
_T = TypeVar("_T")


def _quote(identifier: str) -> str:
    return f'"{validate_identifier(identifier, what="identifier")}"'


def _engine_type(column: ColumnSpec) -> str:
    return DUCKDB_TYPES[column.type]


def create_table_sql(spec: TableSpec) -> str:
    """Return the ``CREATE TABLE IF NOT EXISTS`` statement for ``spec``."""
    columns = ", ".join(f"{_quote(c.name)} {DUCKDB_TYPES[c.type]}" for c in spec.columns)
    return f"CREATE TABLE IF NOT EXISTS {_quote(spec.name)} ({columns})"


def select_rows_sql(
    spec: TableSpec, columns: Sequence[str], query: RangeQuery
) -> tuple[str, list[Any]]:
    """Return the range scan of ``query`` on ``spec`` (only ``columns``) and its parameters."""
    selected = ", ".join(_quote(name) for name in columns)
    order = "DESC" if query.descending else "ASC"
    sql = (
        f"SELECT {selected} FROM {_quote(spec.name)} "
        'WHERE "tenant_id" = ? AND "symbol" = ? AND "ts" >= ? AND "ts" < ? '
        + "".join(f"AND {_quote(name)} = ? " for name, _ in query.where)
        + f'ORDER BY "ts" {order}'
    )
    params: list[Any] = [query.tenant_id, query.symbol, query.start_ms, query.end_ms]
    params.extend(value for _, value in query.where)
    if query.limit is not None:
        sql += " LIMIT ?"
        params.append(query.limit)
    return sql, params


def select_bars_sql(query: RangeQuery, width_ms: int) -> tuple[str, dict[str, Any]]:
    """Return the OHLCV aggregation of ``query`` over ``width_ms`` buckets and its parameters."""
    sql = (
        'SELECT "ts" - "ts" % $width AS bucket, arg_min("bid", "ts") AS open_bid, '
        'max("bid") AS high_bid, min("bid") AS low_bid, arg_max("bid", "ts") AS close_bid, '
        'sum("volume") AS volume_sum, count(*) AS tick_count '
        f"FROM {_quote(TICKS_TABLE.name)} "
        'WHERE "tenant_id" = $tenant AND "symbol" = $symbol AND "ts" >= $start AND "ts" < $end '
        "GROUP BY bucket ORDER BY bucket"
    )
    params = {
        "width": width_ms,
        "tenant": query.tenant_id,
        "symbol": query.symbol,
        "start": query.start_ms,
        "end": query.end_ms,
    }
    return sql, params


_DELETE_CHUNK = 500  # keys per DELETE statement (four parameters each)


def delete_keys_sql(spec: TableSpec, keys: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """Return the DELETE of the rows whose replace key is one of ``keys`` and its parameters.

    ``keys`` hold (tenant_id, symbol, ts, *replace_key) values; the ts range bound lets
    DuckDB skip row groups by their zone maps before it matches the keys.
    """
    names = ("tenant_id", "symbol", "ts", *(spec.replace_key or ()))
    match = " AND ".join(f"t.{_quote(name)} = k.{_quote(name)}" for name in names)
    placeholders = ", ".join("(" + ", ".join("?" for _ in names) + ")" for _ in keys)
    columns = ", ".join(_quote(name) for name in names)
    sql = (
        f"DELETE FROM {_quote(spec.name)} AS t USING (VALUES {placeholders}) AS k({columns}) "
        f'WHERE t."ts" BETWEEN ? AND ? AND {match}'
    )
    params: list[Any] = [value for key in keys for value in key]
    stamps = [key[2] for key in keys]
    params += [min(stamps), max(stamps)]
    return sql, params


class DuckDBTimeSeriesStore(TimeSeriesStoreBase):
    """Time series in one DuckDB file (or ``:memory:``), group-committed by one writer."""

    backend = "duckdb"

    def __init__(self, path: str, settings: TimeSeriesSettings) -> None:
        super().__init__(settings, location=path)
        self.path = path
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._writer_cursor: duckdb.DuckDBPyConnection | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._appenders: dict[str, Any] = {}
        self._reader_local = threading.local()
        self._reader_cursors: list[duckdb.DuckDBPyConnection] = []
        self._reader_cursors_lock = threading.Lock()

    # --- engine steps ----------------------------------------------------------------------

    async def _open(self) -> None:
        if self.path != MEMORY_PATH:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigurationError(
                    f"could not create the directory of DuckDB database {self.path!r}: {e}"
                ) from e
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-writer")
        try:
            await self._on_writer_thread(self._connect)
        except duckdb.Error as e:
            self._writer_thread.shutdown(wait=False)
            raise DependencyUnavailable(
                f"could not open DuckDB database {self.path!r}: {e}; expected a writable file "
                "that no other process holds open"
            ) from e

    async def _close(self) -> None:
        await self._on_writer_thread(self._disconnect)
        if self._writer_thread is not None:
            self._writer_thread.shutdown(wait=False)

    async def _create_table(self, spec: TableSpec) -> None:
        await self._on_writer_thread(self._create_table_on_writer, spec)

    async def _commit(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        await self._on_writer_thread(self._commit_on_writer, spec, rows)

    async def _replace(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        await self._on_writer_thread(self._replace_on_writer, spec, rows)

    async def _select_rows(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[Sequence[Any]]:
        sql, params = select_rows_sql(spec, columns, query)
        return await asyncio.to_thread(self._fetch_all, sql, params)

    async def _select_bars(self, query: RangeQuery, width_ms: int) -> Sequence[Sequence[Any]]:
        sql, params = select_bars_sql(query, width_ms)
        return await asyncio.to_thread(self._fetch_all, sql, params)

    async def _select_columns(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[NDArray[Any]]:
        sql, params = select_rows_sql(spec, columns, query)
        return await asyncio.to_thread(self._fetch_columns, sql, params)

    async def _select_bar_columns(self, query: RangeQuery, width_ms: int) -> Sequence[NDArray[Any]]:
        sql, params = select_bars_sql(query, width_ms)
        return await asyncio.to_thread(self._fetch_columns, sql, params)

    async def _ping(self) -> None:
        await asyncio.to_thread(self._fetch_all, "SELECT 1", [])

    # --- writer thread ---------------------------------------------------------------------

    async def _on_writer_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer_thread, function, *args)

    def _connect(self) -> None:
        self._connection = duckdb.connect(self.path)
        self._writer_cursor = self._connection.cursor()

    def _disconnect(self) -> None:
        self._appenders.clear()
        with self._reader_cursors_lock:
            cursors, self._reader_cursors = self._reader_cursors, []
        for cursor in cursors:
            cursor.close()
        if self._writer_cursor is not None:
            self._writer_cursor.close()
        if self._connection is not None:
            self._connection.close()
        self._connection = self._writer_cursor = None

    def _create_table_on_writer(self, spec: TableSpec) -> None:
        cursor = self._require_writer_cursor()
        cursor.execute(create_table_sql(spec)).fetchall()
        existing = cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? "
            "ORDER BY ordinal_position",
            [spec.name],
        ).fetchall()
        check_existing_columns(spec, existing, _engine_type)

    def _commit_on_writer(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        self._append_in_transaction(spec, rows, replace=False)

    def _replace_on_writer(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        self._append_in_transaction(spec, rows, replace=True)

    def _append_in_transaction(
        self, spec: TableSpec, rows: list[EncodedRow], *, replace: bool
    ) -> None:
        # With ``replace``, the stored rows of these keys are deleted in the same transaction
        # as the append: a reader sees the old row or the new one, never both or neither.
        cursor = self._require_writer_cursor()
        cursor.execute("BEGIN TRANSACTION").fetchall()
        try:
            if replace:
                indexes = replace_key_indexes(spec)
                keys = [tuple(row[i] for i in indexes) for row in rows]
                for start in range(0, len(keys), _DELETE_CHUNK):
                    sql, params = delete_keys_sql(spec, keys[start : start + _DELETE_CHUNK])
                    cursor.execute(sql, params).fetchall()
            appender = self._appenders.get(spec.name)
            if appender is None:
                appender = cursor.appender(spec.name, columns=list(spec.column_names))
                self._appenders[spec.name] = appender
            appender.append_rows(rows)
            appender.flush()
            cursor.execute("COMMIT").fetchall()
        except BaseException:
            # A failed appender may keep part of its buffer: drop it and start clean.
            self._appenders.pop(spec.name, None)
            with contextlib.suppress(duckdb.Error):
                cursor.execute("ROLLBACK").fetchall()
            raise

    def _require_writer_cursor(self) -> duckdb.DuckDBPyConnection:
        if self._writer_cursor is None:
            raise DependencyUnavailable(f"DuckDB database {self.path!r} is not open")
        return self._writer_cursor

    # --- reader threads --------------------------------------------------------------------

    def _fetch_all(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        # fetchnumpy + tolist is 3-5x faster than fetchall in DuckDB 2.0 (measured on 100k
        # rows) and yields the same Python values; the column names are unique by design.
        result = self._reader_cursor().execute(sql, params).fetchnumpy()
        return list(zip(*(column.tolist() for column in result.values()), strict=True))

    def _fetch_columns(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> list[NDArray[Any]]:
        result = self._reader_cursor().execute(sql, params).fetchnumpy()
        # a Categorical comes back only for ENUM columns, which no table here has
        return cast("list[NDArray[Any]]", list(result.values()))

    def _reader_cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._reader_local, "cursor", None)
        if cursor is None:
            if self._connection is None:
                raise DependencyUnavailable(f"DuckDB database {self.path!r} is not open")
            cursor = self._connection.cursor()
            self._reader_local.cursor = cursor
            with self._reader_cursors_lock:
                self._reader_cursors.append(cursor)
        return cursor
