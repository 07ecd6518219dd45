"""The PostgreSQL time-series store: partitioned tables shared by any number of processes.

Tables live in one schema (``?schema=``, default ``timeseries``), each declaratively
range-partitioned on ``ts`` by UTC month (or day) with a default partition as a safety net.
Partitions are created on demand before the rows of their range are written (see
``postgres_partitions``); the indexes are declared on the parent, so each partition gets a
BRIN index on ``ts`` and a btree on (tenant_id, symbol, ts), unique for a replacing table.

Writes: every append goes through the group-commit writer like every backend; a batch
reaches PostgreSQL as one binary ``COPY`` (asyncpg ``copy_records_to_table``) per table, or,
for a replacing table, one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE``. An
append is durable when it returns (PostgreSQL's commit, ``synchronous_commit`` as set).

Reads run on a connection pool. Columnar reads of numeric columns (ticks, bars) fetch a
binary ``COPY`` and view it as NumPy arrays (``postgres_copy``); other reads fetch rows.

Exactly-once ticks: ``tick_dedup`` decides, as on every backend, which ticks are new, and
the ``ticks`` table's unique index on the tick identity has the last word. Ticks are
inserted with ``ON CONFLICT DO NOTHING RETURNING`` the identities stored, so a terminal
that reconnects to another bridge replica, or a resend racing a write lost mid-way, is
reported as already stored instead of being stored twice.

A write whose connection is lost mid-way (a reset, a proxy or network cut) has an unknown
outcome: the server session may still commit it after the client is gone. The resend of
those ticks must not be checked against the stored ones before that session has ended, or
a late commit stores them twice. So the server process id of such a write is remembered,
and the next use of the store first ends those sessions (``pg_terminate_backend``, allowed
on sessions of one's own role) and waits until they are gone from ``pg_stat_activity``
(``SETTLE_TIMEOUT_S``): whatever they committed is then visible to the duplicate check.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import asyncpg
import numpy as np
from asyncpg.pool import PoolConnectionProxy
from numpy.typing import NDArray

from chainflow.core.errors import ConfigurationError, DependencyUnavailable
from chainflow.core.logging import get_logger
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import ColumnType, TableSpec
from chainflow.storage.timeseries.columns import BAR_COLUMN_TYPES, spec_types, typed_columns
from chainflow.storage.timeseries.postgres_config import PostgresTimeSeriesConfig
from chainflow.storage.timeseries.postgres_copy import fixed_width, parse_binary_copy
from chainflow.storage.timeseries.postgres_partitions import PartitionMap, parse_bound
from chainflow.storage.timeseries.postgres_sql import (
    DESCRIBE_COLUMNS_SQL,
    IS_PARTITIONED_SQL,
    LIST_PARTITIONS_SQL,
    LOCK_TABLE_DDL_SQL,
    RELATION_EXISTS_SQL,
    SCHEMA_EXISTS_SQL,
    create_default_partition_sql,
    create_index_sql,
    create_partition_sql,
    create_table_sql,
    engine_type,
    escape_rows,
    insert_new_sql,
    quote,
    render_literals,
    row_key,
    select_bars_sql,
    select_rows_sql,
    unescape_rows,
    upsert_sql,
)
from chainflow.storage.timeseries.store_base import RangeQuery, TimeSeriesStoreBase
from chainflow.storage.timeseries.tables import EncodedRow, check_existing_columns

_TS = 2  # position of ts in an encoded row
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    # The server's FATAL (a restart, a terminated backend) can reach an idle connection just
    # as a statement starts on it; asyncpg then refuses the statement with this error.
    asyncpg.exceptions.InternalClientError,
    # The connection closed under a statement (reset by the network, a proxy).
    asyncpg.exceptions.ConnectionDoesNotExistError,
)

_log = get_logger(__name__)
# Sessions of writes lost mid-way (module doc): ended, then waited for.
SETTLE_TIMEOUT_S = 10.0
TERMINATE_SESSIONS_SQL = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE pid = ANY($1::int[]) AND pid <> pg_backend_pid()"
)
LIVE_SESSIONS_SQL = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])"


class PostgresTimeSeriesStore(TimeSeriesStoreBase):
    """Time series in range-partitioned PostgreSQL tables, through an asyncpg pool."""

    backend = "postgres"

    def __init__(self, config: PostgresTimeSeriesConfig, settings: TimeSeriesSettings) -> None:
        super().__init__(settings, location=config.location)
        self.config = config
        self._schema = config.schema
        self._pool: asyncpg.Pool | None = None
        self._partitions: dict[str, PartitionMap | None] = {}  # None: not partitioned
        self._string_indexes: dict[str, tuple[int, ...]] = {}
        self._unsettled: set[int] = set()  # server pids of writes lost mid-way (module doc)

    # --- engine steps ----------------------------------------------------------------------

    async def _open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.config.dsn, min_size=1, max_size=self.config.pool_size
            )
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as e:
            raise DependencyUnavailable(
                f"could not connect to PostgreSQL at {self.location}: {e}; expected a "
                "reachable server, an existing database and a role that may log in"
            ) from e
        try:
            await self._create_schema()
        except BaseException:
            await self._close()
            raise

    async def _create_schema(self) -> None:
        # Create the schema only when missing: CREATE SCHEMA needs the CREATE privilege on
        # the database even when the schema exists, which a role given one need not have.
        async with self._connection() as connection:
            if await connection.fetchval(SCHEMA_EXISTS_SQL, self._schema):
                return
            try:
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self._schema)}")
            except asyncpg.UniqueViolationError:
                pass  # another process created it at the same moment
            except asyncpg.InsufficientPrivilegeError as e:
                raise ConfigurationError(
                    f"schema {self._schema!r} does not exist at {self.location} and this role "
                    f"may not create it ({e}); create it, or name an existing one in ?schema="
                ) from e

    async def _close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _create_table(self, spec: TableSpec) -> None:
        async with self._connection() as connection, connection.transaction():
            await connection.execute(LOCK_TABLE_DDL_SQL, f"{self._schema}.{spec.name}")
            await connection.execute(create_table_sql(self._schema, spec))
            existing = await connection.fetch(DESCRIBE_COLUMNS_SQL, self._schema, spec.name)
            check_existing_columns(spec, [(r[0], r[1]) for r in existing], engine_type)
            partitioned = await connection.fetchval(IS_PARTITIONED_SQL, self._schema, spec.name)
            if partitioned:
                await connection.execute(create_default_partition_sql(self._schema, spec.name))
            try:
                for name, statement in create_index_sql(self._schema, spec):
                    # Checked first: CREATE INDEX locks the table (against writes) before
                    # it sees that the index exists, and every process start declares it.
                    if not await connection.fetchval(RELATION_EXISTS_SQL, self._schema, name):
                        await connection.execute(statement)
            except asyncpg.UniqueViolationError as e:
                key = row_key(spec)
                raise ConfigurationError(
                    f"table {spec.name!r} holds several rows per key {key}, so its unique "
                    f"index cannot be built ({e}); delete the repeated rows (keep one per key) "
                    "or declare a new name"
                ) from e
            partitions = await self._read_partitions(connection, spec.name) if partitioned else None
        self._partitions[spec.name] = partitions
        self._string_indexes[spec.name] = tuple(
            i for i, c in enumerate(spec.columns) if c.type is ColumnType.STRING
        )

    async def _commit(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        await self._ensure_partitions(spec, rows)
        records = escape_rows(rows, self._string_indexes[spec.name])
        async with self._connection() as connection, self._write_outcome(connection):
            await connection.copy_records_to_table(
                spec.name, records=records, columns=spec.column_names, schema_name=self._schema
            )

    async def _commit_new(self, spec: TableSpec, rows: list[EncodedRow]) -> list[bool] | None:
        """Insert ticks unless their identity is stored: the unique index is the arbiter
        (another process, or a write of this one lost mid-way, may have stored some).

        The binary ``COPY`` is tried first, as for any append: it is atomic, so a conflict
        stores nothing, and only then the batch goes again through ``insert_new_sql``,
        which skips the stored identities and returns the others (2x slower, and rare)."""
        await self._ensure_partitions(spec, rows)
        records = escape_rows(rows, self._string_indexes[spec.name])
        async with self._connection() as connection, self._write_outcome(connection):
            try:
                await connection.copy_records_to_table(
                    spec.name, records=records, columns=spec.column_names, schema_name=self._schema
                )
                return None
            except asyncpg.UniqueViolationError:
                arrays = [list(column) for column in zip(*records, strict=True)]
                inserted = await connection.fetch(insert_new_sql(self._schema, spec), *arrays)
        keys = {tuple(record) for record in inserted}
        # Both sides hold the stored (escaped) strings and the same float64 values.
        positions = [spec.column_names.index(name) for name in row_key(spec)]
        return [tuple(row[i] for i in positions) in keys for row in records]

    async def _replace(self, spec: TableSpec, rows: list[EncodedRow]) -> None:
        await self._ensure_partitions(spec, rows)
        records = escape_rows(rows, self._string_indexes[spec.name])
        arrays = [list(column) for column in zip(*records, strict=True)]
        async with self._connection() as connection, self._write_outcome(connection):
            await connection.execute(upsert_sql(self._schema, spec), *arrays)

    async def _select_rows(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[Sequence[Any]]:
        sql, params = select_rows_sql(self._schema, spec, columns, query)
        async with self._connection() as connection:
            # asyncpg's Record is a positional row (the stubs do not call it a Sequence)
            rows = cast("list[Sequence[Any]]", await connection.fetch(sql, *params))
        return unescape_rows(rows, _string_positions(spec, columns))

    async def _select_bars(self, query: RangeQuery, width_ms: int) -> Sequence[Sequence[Any]]:
        sql, params = select_bars_sql(self._schema, query, width_ms)
        async with self._connection() as connection:
            return cast("list[Sequence[Any]]", await connection.fetch(sql, *params))

    async def _select_columns(
        self, spec: TableSpec, columns: Sequence[str], query: RangeQuery
    ) -> Sequence[NDArray[Any]]:
        types = spec_types(spec, columns)
        # Every selected row has the query's tenant_id and symbol: those columns are filled
        # in here, so the common bulk reads (keys and numbers) take the binary COPY path.
        keys = {"tenant_id": query.tenant_id, "symbol": query.symbol}
        fetched = [name for name in columns if name not in keys] or ["ts"]
        fetched_types = spec_types(spec, fetched)
        if fixed_width(fetched_types):
            sql, params = select_rows_sql(self._schema, spec, fetched, query)
            copied = await self._copy_columns(render_literals(sql, params), fetched_types)
            arrays = dict(zip(fetched, copied, strict=True))
            count = len(arrays[fetched[0]])
            return [
                np.full(count, keys[name], dtype=object) if name in keys else arrays[name]
                for name in columns
            ]
        rows = await self._select_rows(spec, columns, query)
        values = list(zip(*rows, strict=True)) or [()] * len(columns)
        return typed_columns(values, types)

    async def _select_bar_columns(self, query: RangeQuery, width_ms: int) -> Sequence[NDArray[Any]]:
        sql, params = select_bars_sql(self._schema, query, width_ms)
        return await self._copy_columns(render_literals(sql, params), BAR_COLUMN_TYPES)

    async def _ping(self) -> None:
        async with self._connection() as connection:
            await connection.fetchval("SELECT 1")

    # --- partitions ------------------------------------------------------------------------

    async def _ensure_partitions(self, spec: TableSpec, rows: Sequence[EncodedRow]) -> None:
        """Create the partitions ``rows`` need and the store does not know to exist."""
        known = self._partitions.get(spec.name)
        granularity = self.config.granularity
        if known is None or not known.missing((row[_TS] for row in rows), granularity):
            return
        async with self._connection() as connection, connection.transaction():
            # Under the table's DDL lock, re-read what exists: another process may have
            # created some of them (or others, of another granularity) meanwhile.
            await connection.execute(LOCK_TABLE_DDL_SQL, f"{self._schema}.{spec.name}")
            known = await self._read_partitions(connection, spec.name)
            for wanted in known.missing((row[_TS] for row in rows), granularity):
                sql = create_partition_sql(
                    self._schema, spec.name, wanted.suffix, wanted.start_ms, wanted.end_ms
                )
                try:
                    async with connection.transaction():
                        await connection.execute(sql)
                except asyncpg.CheckViolationError as e:
                    # The default partition already holds rows of this range (written
                    # before partitions existed): they keep going there.
                    _log.warning("timeseries.partition_not_created", table=spec.name, error=str(e))
                known.add(wanted.start_ms, wanted.end_ms)
        self._partitions[spec.name] = known

    async def _read_partitions(
        self, connection: PoolConnectionProxy[asyncpg.Record], table: str
    ) -> PartitionMap:
        bounds = await connection.fetch(LIST_PARTITIONS_SQL, self._schema, table)
        parsed = (parse_bound(str(row[0])) for row in bounds)
        return PartitionMap(bound for bound in parsed if bound is not None)

    # --- connections -----------------------------------------------------------------------

    async def _copy_columns(self, sql: str, types: Sequence[ColumnType]) -> list[NDArray[Any]]:
        chunks: list[bytes] = []

        async def collect(chunk: bytes) -> None:
            chunks.append(bytes(chunk))

        async with self._connection() as connection:
            await connection.copy_from_query(sql, output=collect, format="binary")
        return typed_columns(parse_binary_copy(b"".join(chunks), types), types)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """Yield a pooled connection; a lost server becomes ``DependencyUnavailable``."""
        pool = self._pool
        if pool is None:
            raise DependencyUnavailable(f"PostgreSQL time-series store {self.location} is closed")
        try:
            async with pool.acquire() as connection:
                if self._unsettled:
                    await self._settle(connection)
                yield connection
        except _CONNECTION_ERRORS as e:
            # After a server restart every pooled connection is dead: replace them all on
            # their next acquire, so one call fails instead of one per pooled connection.
            await pool.expire_connections()
            raise DependencyUnavailable(
                f"PostgreSQL at {self.location} is unreachable: {type(e).__name__}: {e}; "
                "expected the server to be up (the pool reconnects on the next call)"
            ) from e

    @contextlib.asynccontextmanager
    async def _write_outcome(
        self, connection: PoolConnectionProxy[asyncpg.Record]
    ) -> AsyncIterator[None]:
        """Remember the session of a write that fails without the server's answer."""
        pid = connection.get_server_pid()
        try:
            yield
        except asyncpg.PostgresError as e:
            if isinstance(e, asyncpg.PostgresConnectionError):
                self._unsettled.add(pid)  # the link failed: the outcome is unknown
            raise  # otherwise the server answered: the write was rolled back
        except BaseException:
            self._unsettled.add(pid)  # lost or cancelled mid-way: it may still commit
            raise

    async def _settle(self, connection: PoolConnectionProxy[asyncpg.Record]) -> None:
        """End the sessions of writes lost mid-way and wait until they are gone."""
        pids = sorted(self._unsettled)
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # then only wait
            await connection.execute(TERMINATE_SESSIONS_SQL, pids)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while await connection.fetchval(LIVE_SESSIONS_SQL, pids):
            if time.monotonic() > deadline:
                raise DependencyUnavailable(
                    f"PostgreSQL sessions {pids} of writes whose connection was lost are "
                    f"still running after {SETTLE_TIMEOUT_S} s; expected them to end "
                    "(the store retries on its next call)"
                )
            await asyncio.sleep(0.02)
        self._unsettled.difference_update(pids)
        _log.warning("timeseries_lost_writes_settled", sessions=len(pids))


def _string_positions(spec: TableSpec, columns: Sequence[str]) -> tuple[int, ...]:
    types = {c.name: c.type for c in spec.columns}
    return tuple(i for i, name in enumerate(columns) if types[name] is ColumnType.STRING)
