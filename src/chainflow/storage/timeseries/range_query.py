"""Range queries of the time-series store: the validated query and its argument checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chainflow.core.errors import InvalidInput
from chainflow.core.market import Timeframe
from chainflow.storage.api import ColumnType, TableSpec


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """One tenant's rows of one symbol with ``start_ms <= ts < end_ms``."""

    tenant_id: str
    symbol: str
    start_ms: int
    end_ms: int
    limit: int | None = None
    descending: bool = False
    where: tuple[tuple[str, str | int], ...] = ()  # equality filters on value columns


def check_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} must be a non-empty str; received {value!r}")
    return value


def check_int(value: object, name: str, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an int ({meaning}); received {value!r}")
    return value


def check_timeframe(timeframe: object) -> Timeframe:
    if not isinstance(timeframe, Timeframe):
        raise InvalidInput(
            f"timeframe must be one of {[t.value for t in Timeframe]}; received {timeframe!r}"
        )
    return timeframe


def check_where(spec: TableSpec, where: Mapping[str, object]) -> tuple[tuple[str, str | int], ...]:
    """Validate equality filters: value columns of ``spec``, STRING or INT64, values typed."""
    types = {c.name: c.type for c in spec.values}
    checked: list[tuple[str, str | int]] = []
    for name, value in sorted(where.items()):
        column_type = types.get(name)
        if column_type is ColumnType.STRING and isinstance(value, str):
            checked.append((name, value))
        elif (
            column_type is ColumnType.INT64
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            checked.append((name, value))
        else:
            filterable = sorted(n for n, t in types.items() if t is not ColumnType.FLOAT64)
            raise InvalidInput(
                f"where filters STRING/INT64 value columns of {spec.name!r} "
                f"({', '.join(filterable) or 'none'}) by equal-typed values; "
                f"received {name}={value!r}"
            )
    return tuple(checked)


def range_query(
    tenant_id: object,
    symbol: object,
    start_ms: object,
    end_ms: object,
    limit: object,
    descending: bool,
) -> RangeQuery | None:
    """Return the validated query, or ``None`` when it cannot match a row."""
    query = RangeQuery(
        tenant_id=check_text(tenant_id, "tenant_id"),
        symbol=check_text(symbol, "symbol"),
        start_ms=check_int(start_ms, "start_ms", "epoch milliseconds"),
        end_ms=check_int(end_ms, "end_ms", "epoch milliseconds"),
        limit=None if limit is None else check_int(limit, "limit", "a row count"),
        descending=bool(descending),
    )
    if query.limit is not None and query.limit < 0:
        raise InvalidInput(f"limit must be None or >= 0; received {query.limit}")
    if query.start_ms >= query.end_ms or query.limit == 0:
        return None
    return query
