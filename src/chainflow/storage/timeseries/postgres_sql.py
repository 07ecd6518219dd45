"""The PostgreSQL SQL of the time-series store: DDL, range scans, OHLCV, upserts.

Identifiers are validated against ``^[a-z][a-z0-9_]*$`` and double-quoted, always qualified
by the store's schema; values travel as asyncpg parameters (``$n``). The one exception is
``render_literals``, which inlines validated values for ``COPY (...) TO STDOUT``, a statement
that takes no parameters.

PostgreSQL ``text`` cannot hold NUL, which the contract lets a STRING hold. ``escape_text``
maps NUL to ``ESCAPE + "0"`` and ``ESCAPE`` to itself twice; every other string is stored
as it is, so the tables stay readable from ``psql`` and Grafana.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from chainflow.storage.api import TICKS_TABLE, ColumnSpec, ColumnType, TableSpec
from chainflow.storage.timeseries.range_query import RangeQuery
from chainflow.storage.timeseries.tables import EncodedRow, validate_identifier

POSTGRES_TYPES: dict[ColumnType, str] = {
    ColumnType.INT64: "bigint",
    ColumnType.FLOAT64: "double precision",
    ColumnType.STRING: "text",
}
ESCAPE = "\ue000"  # a private-use character: stored only to escape NUL (and itself)
_UNESCAPE = re.compile(ESCAPE + "(.)", re.DOTALL)
_MAX_IDENTIFIER = 63
_PLACEHOLDER = re.compile(r"\$(\d+)\b")


# --- values ------------------------------------------------------------------------------


def escape_text(value: str) -> str:
    """Return ``value`` as stored: NUL and ``ESCAPE`` escaped, anything else unchanged."""
    if "\0" not in value and ESCAPE not in value:
        return value
    return value.replace(ESCAPE, ESCAPE + ESCAPE).replace("\0", ESCAPE + "0")


def unescape_text(value: str) -> str:
    """Return the string ``escape_text`` stored as ``value``."""
    if ESCAPE not in value:
        return value
    return _UNESCAPE.sub(lambda m: "\0" if m.group(1) == "0" else ESCAPE, value)


def escape_rows(rows: Sequence[EncodedRow], string_indexes: Sequence[int]) -> Sequence[EncodedRow]:
    """Return ``rows`` with their STRING values (at ``string_indexes``) escaped; the same
    list when nothing needs escaping, the usual case."""
    if not string_indexes:
        return rows
    escaped: dict[str, str] = {}
    changed = False
    for row in rows:
        for index in string_indexes:
            value = row[index]
            stored = escaped.get(value)
            if stored is None:
                stored = escaped[value] = escape_text(value)
            changed = changed or stored is not value
    if not changed:
        return rows
    return [
        tuple(escaped[v] if i in string_indexes else v for i, v in enumerate(row)) for row in rows
    ]


def unescape_rows(
    rows: Sequence[Sequence[Any]], string_indexes: Sequence[int]
) -> Sequence[Sequence[Any]]:
    """Return ``rows`` (as read) with their STRING values unescaped."""
    if not string_indexes or not any(ESCAPE in row[i] for row in rows for i in string_indexes):
        return rows
    return [
        tuple(unescape_text(v) if i in string_indexes else v for i, v in enumerate(row))
        for row in rows
    ]


def render_literal(value: object) -> str:
    """Return a validated int or str as an SQL literal (independent of
    ``standard_conforming_strings``); refuse anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, str) and "\0" not in value:
        quoted = value.replace("'", "''")
        if "\\" in quoted:
            return "E'" + quoted.replace("\\", "\\\\") + "'"
        return "'" + quoted + "'"
    raise ValueError(f"expected an int or a str without NUL to inline; received {value!r:.80}")


def render_literals(sql: str, params: Sequence[Any]) -> str:
    """Return ``sql`` with each ``$n`` replaced by ``params[n - 1]`` as a literal."""
    return _PLACEHOLDER.sub(lambda m: render_literal(params[int(m.group(1)) - 1]), sql)


# --- identifiers -------------------------------------------------------------------------


def quote(name: str) -> str:
    """Return ``name`` double-quoted after checking it is a safe identifier."""
    return f'"{validate_identifier(name, what="identifier")}"'


def qualified(schema: str, name: str) -> str:
    """Return ``"schema"."name"``."""
    return f"{quote(schema)}.{quote(name)}"


def derived_name(table: str, suffix: str) -> str:
    """Return ``table + suffix`` as an identifier of at most 63 characters: a long table
    name is cut and a hash of it added, so two long names never share a partition."""
    if len(table) + len(suffix) <= _MAX_IDENTIFIER:
        return table + suffix
    digest = hashlib.sha1(table.encode()).hexdigest()[:8]
    return f"{table[: _MAX_IDENTIFIER - len(suffix) - 9]}_{digest}{suffix}"


def engine_type(column: ColumnSpec) -> str:
    """Return the PostgreSQL type created for ``column``, as ``information_schema`` names it."""
    return POSTGRES_TYPES[column.type]


# --- DDL ---------------------------------------------------------------------------------


def create_table_sql(schema: str, spec: TableSpec) -> str:
    """Return the ``CREATE TABLE`` of ``spec``, range-partitioned by ``ts``."""
    columns = ", ".join(f"{quote(c.name)} {engine_type(c)} NOT NULL" for c in spec.columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(schema, spec.name)} ({columns}) "
        'PARTITION BY RANGE ("ts")'
    )


def create_default_partition_sql(schema: str, table: str) -> str:
    """Return the default partition: rows no range partition covers (a safety net)."""
    partition = qualified(schema, derived_name(table, "__default"))
    return f"CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {qualified(schema, table)} DEFAULT"


def create_partition_sql(schema: str, table: str, suffix: str, start_ms: int, end_ms: int) -> str:
    """Return the range partition ``start_ms <= ts < end_ms`` of ``table``."""
    partition = qualified(schema, derived_name(table, suffix))
    return (
        f"CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {qualified(schema, table)} "
        f"FOR VALUES FROM ({int(start_ms)}) TO ({int(end_ms)})"
    )


TICK_IDENTITY = ("tenant_id", "symbol", "ts", "bid", "ask")
"""A stored tick's identity (``tick_dedup``): unique in the ``ticks`` table, so that no
writer, however it raced, stores a tick twice."""


def row_key(spec: TableSpec) -> tuple[str, ...]:
    """Return the columns of ``spec``'s btree key: a replacing table's row key, the tick
    identity, or (tenant_id, symbol, ts) for other appended tables."""
    if spec.name == TICKS_TABLE.name:
        return TICK_IDENTITY
    return ("tenant_id", "symbol", "ts", *(spec.replace_key or ()))


def create_index_sql(schema: str, spec: TableSpec) -> list[tuple[str, str]]:
    """Return (name, statement) of the indexes of ``spec``, declared on the parent so that
    every partition, present and future, gets its own: BRIN on ``ts`` (time-only scans, a
    few pages per partition) and a btree on the row key, unique for a replacing table (its
    upsert arbiter, which must include the partition key ``ts``) and for ``ticks`` (the
    arbiter of ``insert_new_sql``)."""
    table = qualified(schema, spec.name)
    key = row_key(spec)
    columns = ", ".join(quote(name) for name in key)
    if spec.replace_key is not None:
        unique, suffix = "UNIQUE ", "__replace_key"
    elif spec.name == TICKS_TABLE.name:
        unique, suffix = "UNIQUE ", "__identity"
    else:
        unique, suffix = "", "__key"
    key_name = derived_name(spec.name, suffix)
    brin_name = derived_name(spec.name, "__ts_brin")
    return [
        (brin_name, f'CREATE INDEX IF NOT EXISTS {quote(brin_name)} ON {table} USING brin ("ts")'),
        (
            key_name,
            f"CREATE {unique}INDEX IF NOT EXISTS {quote(key_name)} ON {table} ({columns})",
        ),
    ]


RELATION_EXISTS_SQL = "SELECT to_regclass(quote_ident($1) || '.' || quote_ident($2)) IS NOT NULL"


DESCRIBE_COLUMNS_SQL = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position"
)
LIST_PARTITIONS_SQL = (
    "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
    "JOIN pg_class c ON c.oid = i.inhrelid "
    "JOIN pg_class p ON p.oid = i.inhparent "
    "JOIN pg_namespace n ON n.oid = p.relnamespace "
    "WHERE n.nspname = $1 AND p.relname = $2"
)
IS_PARTITIONED_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table t JOIN pg_class c ON c.oid = t.partrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)"
)
SCHEMA_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)"
LOCK_TABLE_DDL_SQL = "SELECT pg_advisory_xact_lock(hashtextextended($1, 24))"
"""Serialize DDL on one table across processes (two racing ``CREATE ... IF NOT EXISTS``
can otherwise fail on the catalog's unique index)."""


# --- writes ------------------------------------------------------------------------------


def _unnest_insert(schema: str, spec: TableSpec) -> str:
    names = spec.column_names
    arrays = ", ".join(f"${i}::{engine_type(c)}[]" for i, c in enumerate(spec.columns, start=1))
    return (
        f"INSERT INTO {qualified(schema, spec.name)} ({', '.join(quote(n) for n in names)}) "
        f"SELECT * FROM unnest({arrays}) "
    )


def upsert_sql(schema: str, spec: TableSpec) -> str:
    """Return the upsert of a replacing table: one array parameter per column, unnested,
    and ``ON CONFLICT`` on the row key updating the other columns (the last append wins)."""
    key = row_key(spec)
    others = [name for name in spec.column_names if name not in key]
    action = (
        "DO UPDATE SET " + ", ".join(f"{quote(n)} = EXCLUDED.{quote(n)}" for n in others)
        if others
        else "DO NOTHING"
    )
    return (
        f"{_unnest_insert(schema, spec)}ON CONFLICT ({', '.join(quote(n) for n in key)}) {action}"
    )


def insert_new_sql(schema: str, spec: TableSpec) -> str:
    """Return the insert of rows whose key may be stored already (``ticks``): one array
    parameter per column, unnested; a row whose key is stored is skipped, and the keys of
    the rows inserted are returned (a race lost to another writer shows as a missing key)."""
    key = ", ".join(quote(n) for n in row_key(spec))
    return f"{_unnest_insert(schema, spec)}ON CONFLICT ({key}) DO NOTHING RETURNING {key}"


# --- reads -------------------------------------------------------------------------------


def _range_filter(query: RangeQuery, params: list[Any]) -> str:
    params.extend([escape_text(query.tenant_id), escape_text(query.symbol)])
    params.extend([query.start_ms, query.end_ms])
    sql = 'WHERE "tenant_id" = $1 AND "symbol" = $2 AND "ts" >= $3 AND "ts" < $4'
    for name, value in query.where:
        params.append(escape_text(value) if isinstance(value, str) else value)
        sql += f" AND {quote(name)} = ${len(params)}"
    return sql


def select_rows_sql(
    schema: str, spec: TableSpec, columns: Sequence[str], query: RangeQuery
) -> tuple[str, list[Any]]:
    """Return the range scan of ``query`` on ``spec`` (only ``columns``) and its parameters."""
    params: list[Any] = []
    selected = ", ".join(quote(name) for name in columns)
    order = "DESC" if query.descending else "ASC"
    sql = (
        f"SELECT {selected} FROM {qualified(schema, spec.name)} "
        f'{_range_filter(query, params)} ORDER BY "ts" {order}'
    )
    if query.limit is not None:
        params.append(query.limit)
        sql += f" LIMIT ${len(params)}"
    return sql, params


def select_bars_sql(schema: str, query: RangeQuery, width_ms: int) -> tuple[str, list[Any]]:
    """Return the OHLCV aggregation of the tenant's ticks over ``width_ms`` buckets.

    PostgreSQL has no ``arg_min``: open and close are the first and last bid of the
    bucket's bids ordered by ts (an ordered ``array_agg``, one sort per bucket).
    """
    params: list[Any] = []
    where = _range_filter(query, params)
    params.append(width_ms)
    width = f"${len(params)}"
    sql = (
        f'SELECT "ts" - "ts" % {width} AS bucket, '
        '(array_agg("bid" ORDER BY "ts"))[1], max("bid"), min("bid"), '
        '(array_agg("bid" ORDER BY "ts" DESC))[1], sum("volume"), count(*) '
        f"FROM {qualified(schema, TICKS_TABLE.name)} {where} "
        "GROUP BY bucket ORDER BY bucket"
    )
    return sql, params
