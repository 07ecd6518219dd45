"""Table declarations shared by every time-series backend: names, specs, row encoding.

Every value that reaches a backend passes through here first, so the backends see only
validated identifiers and rows of exactly the declared Python types, in column order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from chainflow.core.errors import ConfigurationError, InvalidInput, NotFound
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick
from chainflow.storage.api import KEY_COLUMNS, TICKS_TABLE, ColumnSpec, ColumnType, TableSpec

IDENTIFIER_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

EncodedRow: TypeAlias = tuple[Any, ...]

_KEY_NAMES = frozenset(c.name for c in KEY_COLUMNS)
_TS_INDEX = [c.name for c in KEY_COLUMNS].index("ts")


def validate_identifier(name: object, *, what: str) -> str:
    """Return ``name`` if it is a safe SQL identifier; raise ``InvalidInput`` otherwise."""
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"{what} name must match {IDENTIFIER_PATTERN.pattern} (lower-case letter, then "
            f"lower-case letters, digits or '_', at most 63 characters); received {name!r}",
            details={"field": what, "received": repr(name)},
        )
    return name


def validate_table_spec(spec: TableSpec) -> TableSpec:
    """Check the table and column names of ``spec``; return it unchanged."""
    validate_identifier(spec.name, what="table")
    seen: set[str] = set()
    for column in spec.columns:
        validate_identifier(column.name, what="column")
        if not isinstance(column.type, ColumnType):
            raise InvalidInput(
                f"column {column.name!r} of table {spec.name!r} must have a ColumnType; "
                f"received {column.type!r}"
            )
        if column.name in seen:
            reason = "is a key column" if column.name in _KEY_NAMES else "appears twice"
            raise InvalidInput(
                f"column {column.name!r} of table {spec.name!r} {reason}; expected value "
                f"columns distinct from each other and from {sorted(_KEY_NAMES)}"
            )
        seen.add(column.name)
    if spec.replace_key is not None:
        keyable = {c.name for c in spec.values if c.type is not ColumnType.FLOAT64}
        unknown = [name for name in spec.replace_key if name not in keyable]
        if unknown or len(set(spec.replace_key)) != len(spec.replace_key):
            raise InvalidInput(
                f"replace_key of table {spec.name!r} must name distinct STRING/INT64 value "
                f"columns from {sorted(keyable)}; received {list(spec.replace_key)}"
            )
    return spec


def replace_key_indexes(spec: TableSpec) -> tuple[int, ...]:
    """Return the positions, in an encoded row, of the columns that identify a row of a
    replacing table: (tenant_id, symbol, ts) and ``spec.replace_key``."""
    names = spec.column_names
    key = ("tenant_id", "symbol", "ts", *(spec.replace_key or ()))
    return tuple(names.index(name) for name in key)


def last_row_per_key(spec: TableSpec, rows: Sequence[EncodedRow]) -> list[EncodedRow]:
    """Keep, for each key of a replacing table, the last of ``rows``; first-seen order."""
    indexes = replace_key_indexes(spec)
    latest: dict[tuple[Any, ...], EncodedRow] = {}
    for row in rows:
        key = tuple(row[i] for i in indexes)
        latest.pop(key, None)  # re-insert so the order follows the last occurrence
        latest[key] = row
    return list(latest.values())


def _encode_int64(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    if not INT64_MIN <= value <= INT64_MAX:
        raise OverflowError
    return int(value)


def _encode_float64(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)


def _encode_string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return str(value)


_ENCODERS: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.INT64: _encode_int64,
    ColumnType.FLOAT64: _encode_float64,
    ColumnType.STRING: _encode_string,
}
_EXPECTED_TYPES = {
    ColumnType.INT64: "an int within the signed 64-bit range",
    ColumnType.FLOAT64: "a float or int",
    ColumnType.STRING: "a str",
}


def encode_rows(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> list[EncodedRow]:
    """Return ``rows`` as tuples in column order; raise ``InvalidInput`` naming the bad column.

    Each row must hold every column of ``spec`` and nothing else. ``ts`` must be epoch
    milliseconds at or after 1970 so that every backend buckets it the same way.
    """
    names = spec.column_names
    encoders = [_ENCODERS[c.type] for c in spec.columns]
    expected = set(names)
    encoded: list[EncodedRow] = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidInput(
                f"row {index} for table {spec.name!r} must be a mapping of column name to "
                f"value; received {type(row).__name__}"
            )
        try:
            values = tuple(encode(row[name]) for name, encode in zip(names, encoders, strict=True))
        except KeyError as e:
            raise InvalidInput(
                f"row {index} for table {spec.name!r} is missing column {e.args[0]!r}; "
                f"expected every column of {list(names)}",
                details={"row": index, "column": e.args[0]},
            ) from e
        except (TypeError, OverflowError, ValueError):
            raise _bad_value(spec, index, row) from None
        if len(row) != len(names):
            extra = sorted(str(k) for k in set(row) - expected)
            raise InvalidInput(
                f"row {index} for table {spec.name!r} has unknown column(s) {extra}; "
                f"expected only {list(names)}",
                details={"row": index, "columns": extra},
            )
        if values[_TS_INDEX] < 0:
            raise InvalidInput(
                f"row {index} for table {spec.name!r}: ts must be epoch milliseconds >= 0; "
                f"received {values[_TS_INDEX]}",
                details={"row": index, "column": "ts"},
            )
        encoded.append(values)
    return encoded


def _bad_value(spec: TableSpec, index: int, row: Mapping[str, Any]) -> InvalidInput:
    for column in spec.columns:
        value = row[column.name]
        try:
            _ENCODERS[column.type](value)
        except (TypeError, OverflowError, ValueError):
            return InvalidInput(
                f"row {index} for table {spec.name!r}: column {column.name!r} must be "
                f"{_EXPECTED_TYPES[column.type]}; received {type(value).__name__} {value!r:.80}",
                details={"row": index, "column": column.name},
            )
    return InvalidInput(f"row {index} for table {spec.name!r} could not be encoded")


_DECODERS: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.INT64: int,
    ColumnType.FLOAT64: float,
    ColumnType.STRING: str,
}


def row_decoder(spec: TableSpec) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Return a function turning one backend row (column order) into a dict of Python values.

    Values are converted by declared type, so a backend that returns ``"nan"`` or ``"123"``
    text (chDB's JSON output) yields the same Python values as one returning native types.
    """
    names = spec.column_names
    decoders = [_DECODERS[c.type] for c in spec.columns]

    def decode(values: Sequence[Any]) -> dict[str, Any]:
        return {
            name: convert(value)
            for name, convert, value in zip(names, decoders, values, strict=True)
        }

    return decode


def ticks_to_rows(tenant_id: TenantId, ticks: Sequence[Tick]) -> list[EncodedRow]:
    """Return ``ticks`` as encoded rows of the ``ticks`` table."""
    rows = [
        {
            "tenant_id": tenant_id,
            "symbol": tick.symbol,
            "ts": tick.ts,
            "bid": tick.bid,
            "ask": tick.ask,
            "volume": tick.volume,
        }
        for tick in ticks
    ]
    return encode_rows(TICKS_TABLE, rows)


def tick_from_row(row: Mapping[str, Any]) -> Tick:
    """Return the ``Tick`` held by one decoded row of the ``ticks`` table."""
    return Tick(
        symbol=row["symbol"], ts=row["ts"], bid=row["bid"], ask=row["ask"], volume=row["volume"]
    )


class TableCatalog:
    """The tables one store has declared in this process, by name."""

    def __init__(self) -> None:
        self._specs: dict[str, TableSpec] = {}

    def check_compatible(self, spec: TableSpec) -> None:
        """Refuse ``spec`` if a different declaration under the same name was recorded."""
        known = self._specs.get(spec.name)
        if known is not None and known != spec:
            raise ConfigurationError(
                f"table {spec.name!r} is already declared with columns "
                f"{_describe(known.columns)}; received a different declaration "
                f"{_describe(spec.columns)}"
            )

    def add(self, spec: TableSpec) -> None:
        """Record ``spec``; a second, different spec under the same name is refused."""
        self.check_compatible(spec)
        self._specs[spec.name] = spec

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def get(self, name: str) -> TableSpec:
        """Return the spec of table ``name``; raise ``NotFound`` if it was never declared."""
        validate_identifier(name, what="table")
        spec = self._specs.get(name)
        if spec is None:
            raise NotFound(
                f"table {name!r} is not declared in this store; expected one of "
                f"{sorted(self._specs)} (call ensure_table first)",
                details={"table": name},
            )
        return spec


def check_existing_columns(
    spec: TableSpec,
    existing: Sequence[tuple[str, str]],
    engine_type: Callable[[ColumnSpec], str],
) -> None:
    """Raise ``ConfigurationError`` when a table on disk differs from its declaration.

    ``existing`` holds the (name, engine type) pairs the backend reports, in table order;
    ``engine_type`` names the engine type the backend creates for a declared column.
    """
    expected = [(c.name, engine_type(c)) for c in spec.columns]
    found = [(str(name), str(type_name)) for name, type_name in existing]
    if found != expected:
        raise ConfigurationError(
            f"table {spec.name!r} exists with columns {found}; expected {expected} as declared. "
            "Migrate or drop the table, or declare it under a new name"
        )


def is_key_column(column: ColumnSpec) -> bool:
    """Return whether ``column`` is one of the key columns (tenant_id, symbol, ts)."""
    return column.name in _KEY_NAMES


def _describe(columns: Sequence[ColumnSpec]) -> list[str]:
    return [f"{c.name}:{c.type.value}" for c in columns]
