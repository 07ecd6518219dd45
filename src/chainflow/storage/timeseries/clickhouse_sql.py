"""The ClickHouse SQL of the time-series store, written once for every ClickHouse engine.

The same text runs on a ClickHouse server (clickhouse-connect) and in-process on chDB, so
the contract suite exercises exactly what production runs. Values are rendered as
literals, because server-side parameters differ between the two: identifiers are
validated against ``^[a-z][a-z0-9_]*$`` and back-quoted, strings are escaped by
``render_string``, ints are range-checked and floats are rendered with ``repr`` (the
shortest text that reads back as the same float64).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from chainflow.core.errors import InvalidInput
from chainflow.storage.api import TICKS_TABLE, ColumnSpec, ColumnType, TableSpec
from chainflow.storage.timeseries.store_base import RangeQuery
from chainflow.storage.timeseries.tables import (
    INT64_MAX,
    INT64_MIN,
    EncodedRow,
    is_key_column,
    validate_identifier,
)

CLICKHOUSE_TYPES: dict[ColumnType, str] = {
    ColumnType.INT64: "Int64",
    ColumnType.FLOAT64: "Float64",
    ColumnType.STRING: "String",
}
KEY_STRING_TYPE = "LowCardinality(String)"
PARTITION_BY = "toYYYYMM(fromUnixTimestamp64Milli(`ts`, 'UTC'))"
ORDER_BY = "(`tenant_id`, `symbol`, `ts`)"

_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\0": "\\0"})


def render_string(value: str) -> str:
    """Return ``value`` as a ClickHouse string literal (backslash, quote and NUL escaped)."""
    if not isinstance(value, str):
        raise InvalidInput(f"expected a str to render as a string literal; received {value!r}")
    return "'" + value.translate(_STRING_ESCAPES) + "'"


def render_int(value: int) -> str:
    """Return ``value`` as an Int64 literal; refuse anything but an in-range int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"expected an int to render as an Int64 literal; received {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"expected an int within the signed 64-bit range; received {value}")
    return str(int(value))


def render_float(value: float) -> str:
    """Return ``value`` as a Float64 literal that reads back as exactly the same float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"expected a float to render as a Float64 literal; received {value!r}")
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return repr(number)


_RENDERERS: dict[ColumnType, Callable[[Any], str]] = {
    ColumnType.INT64: render_int,
    ColumnType.FLOAT64: render_float,
    ColumnType.STRING: render_string,
}


def quote_identifier(name: str) -> str:
    """Return ``name`` back-quoted after checking it is a safe identifier."""
    return f"`{validate_identifier(name, what='identifier')}`"


def engine_type(column: ColumnSpec) -> str:
    """Return the ClickHouse type created for ``column``."""
    if is_key_column(column) and column.type is ColumnType.STRING:
        return KEY_STRING_TYPE
    return CLICKHOUSE_TYPES[column.type]


def create_table_sql(spec: TableSpec) -> str:
    """Return the ``CREATE TABLE IF NOT EXISTS`` statement for ``spec``.

    A replacing table (``spec.replace_key``) is a ``ReplacingMergeTree`` whose sorting key
    is its row key, so merges keep the last row inserted per key; reads use ``FINAL``.
    """
    columns = ",\n  ".join(f"{quote_identifier(c.name)} {engine_type(c)}" for c in spec.columns)
    engine, order_by = "MergeTree", ORDER_BY
    if spec.replace_key is not None:
        engine = "ReplacingMergeTree"
        key = ("tenant_id", "symbol", "ts", *spec.replace_key)
        order_by = "(" + ", ".join(quote_identifier(name) for name in key) + ")"
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(spec.name)} (\n  {columns}\n)\n"
        f"ENGINE = {engine}\nPARTITION BY {PARTITION_BY}\nORDER BY {order_by}"
    )


def table_engine_sql(table: str) -> str:
    """Return the query of ``table``'s engine name."""
    return (
        "SELECT engine FROM system.tables "
        f"WHERE database = currentDatabase() AND name = {render_string(table)}"
    )


def describe_columns_sql(table: str) -> str:
    """Return the query listing (name, type) of ``table``'s columns in table order."""
    return (
        "SELECT name, type FROM system.columns "
        f"WHERE database = currentDatabase() AND table = {render_string(table)} "
        "ORDER BY position"
    )


def insert_sql(spec: TableSpec, rows: Sequence[EncodedRow]) -> str:
    """Return one ``INSERT ... VALUES`` statement holding every row (in column order)."""
    columns = ", ".join(quote_identifier(name) for name in spec.column_names)
    renderers = [_RENDERERS[c.type] for c in spec.columns]
    values = ",".join(
        "(" + ",".join(render(v) for render, v in zip(renderers, row, strict=True)) + ")"
        for row in rows
    )
    return f"INSERT INTO {quote_identifier(spec.name)} ({columns}) VALUES {values}"


def _range_filter(query: RangeQuery) -> str:
    equalities = "".join(
        f" AND {quote_identifier(name)} = "
        + (render_string(value) if isinstance(value, str) else render_int(value))
        for name, value in query.where
    )
    return (
        f"WHERE `tenant_id` = {render_string(query.tenant_id)} "
        f"AND `symbol` = {render_string(query.symbol)} "
        f"AND `ts` >= {render_int(query.start_ms)} AND `ts` < {render_int(query.end_ms)}"
        + equalities
    )


def select_rows_sql(
    spec: TableSpec, columns: Sequence[str], query: RangeQuery, *, final: bool = False
) -> str:
    """Return the range scan of ``query`` on ``spec`` (only ``columns``), ordered by ts.

    ``final`` reads a ReplacingMergeTree as merged: one row per key, the last inserted.
    """
    selected = ", ".join(quote_identifier(name) for name in columns)
    order = "DESC" if query.descending else "ASC"
    table = quote_identifier(spec.name) + (" FINAL" if final else "")
    sql = f"SELECT {selected} FROM {table} {_range_filter(query)} ORDER BY `ts` {order}"
    if query.limit is not None:
        sql += f" LIMIT {render_int(query.limit)}"
    return sql


def select_bars_sql(query: RangeQuery, width_ms: int) -> str:
    """Return the OHLCV aggregation of the tenant's ticks over ``width_ms`` buckets."""
    width = render_int(width_ms)
    return (
        f"SELECT intDiv(`ts`, {width}) * {width} AS bucket, "
        "argMin(`bid`, `ts`), max(`bid`), min(`bid`), argMax(`bid`, `ts`), "
        "sum(`volume`), count() "
        f"FROM {quote_identifier(TICKS_TABLE.name)} {_range_filter(query)} "
        "GROUP BY bucket ORDER BY bucket"
    )
