"""Columnar reads of the time-series store: ranges as NumPy arrays, not Python objects.

Bulk readers (backtests, training, exports) read whole ranges; a ``Tick`` per row costs
~2.7 us in Python, about 85% of a 100k-tick scan (see ``benchmarks/bench_timeseries.py``).
The columnar path hands the engine's own arrays (DuckDB ``fetchnumpy``, ClickHouse Arrow
or native columns) over with one dtype cast per column and no per-row object.

Types follow the row path: ``ts`` is epoch milliseconds as int64 (as ``Tick.ts`` and
``Bar.ts``), prices and volumes float64, counts int64, strings object arrays of ``str``.
Row ``i`` of every column is one row of the row path, and ``ticks()``/``bars()`` turn the
columns back into exactly the objects ``scan_ticks``/``ohlcv`` return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from chainflow.core.errors import InvalidInput
from chainflow.core.market import Bar, Tick, Timeframe
from chainflow.storage.api import ColumnType, TableSpec

Column: TypeAlias = NDArray[Any]
"""One column of a columnar read: int64, float64, or an object array of ``str``."""

_DTYPES: dict[ColumnType, type[np.generic]] = {
    ColumnType.INT64: np.int64,
    ColumnType.FLOAT64: np.float64,
    ColumnType.STRING: np.object_,
}
TICK_COLUMN_TYPES = (ColumnType.INT64, ColumnType.FLOAT64, ColumnType.FLOAT64, ColumnType.FLOAT64)
"""Types of (ts, bid, ask, volume), the columns ``read_tick_columns`` selects."""
BAR_COLUMN_TYPES = (
    ColumnType.INT64,  # bucket open time
    *(ColumnType.FLOAT64,) * 5,  # open, high, low, close, volume
    ColumnType.INT64,  # tick_count
)
"""Types of the OHLCV aggregation's columns, in the order the backends select them."""


def as_column(values: Any, column_type: ColumnType) -> Column:
    """Return an engine's column as a contiguous array of ``column_type``'s dtype.

    A no-op for arrays already of that dtype (DuckDB, Arrow numerics); casts ClickHouse's
    UInt64 ``count()`` to int64 and keeps strings as Python ``str`` in an object array.
    """
    return np.ascontiguousarray(values, dtype=_DTYPES[column_type])


def typed_columns(values: Sequence[Any], types: Sequence[ColumnType]) -> list[Column]:
    """Return each of ``values`` cast by ``as_column`` to its type in ``types``."""
    if len(values) != len(types):
        raise ValueError(f"expected {len(types)} columns from the engine; received {len(values)}")
    columns = [as_column(v, t) for v, t in zip(values, types, strict=True)]
    if len({len(c) for c in columns}) > 1:
        raise ValueError(f"expected columns of one length; received {[len(c) for c in columns]}")
    return columns


def empty_columns(types: Sequence[ColumnType]) -> list[Column]:
    """Return zero-length columns of ``types`` (a range that cannot match a row)."""
    return [np.empty(0, dtype=_DTYPES[t]) for t in types]


def spec_types(spec: TableSpec, names: Sequence[str]) -> list[ColumnType]:
    """Return the declared type of each column of ``names`` in ``spec``; raise
    ``InvalidInput`` for an unknown, repeated or missing name."""
    types = {c.name: c.type for c in spec.columns}
    unknown = [name for name in names if name not in types]
    if unknown or not names or len(set(names)) != len(names):
        raise InvalidInput(
            f"columns must be distinct columns of table {spec.name!r} "
            f"({', '.join(types)}); received {list(names)}"
        )
    return [types[name] for name in names]


@dataclass(frozen=True, slots=True)
class TickColumns:
    """One symbol's ticks as columns, ascending by ts: row ``i`` is one tick."""

    symbol: str
    ts: NDArray[np.int64]
    bid: NDArray[np.float64]
    ask: NDArray[np.float64]
    volume: NDArray[np.float64]

    @classmethod
    def of(cls, symbol: str, columns: Sequence[Column]) -> TickColumns:
        """Build from (ts, bid, ask, volume) columns (already typed by ``typed_columns``)."""
        ts, bid, ask, volume = columns
        return cls(symbol, ts, bid, ask, volume)

    def __len__(self) -> int:
        return len(self.ts)

    def ticks(self) -> list[Tick]:
        """Return the rows as ``Tick`` objects, equal to what ``scan_ticks`` returns."""
        rows = zip(
            self.ts.tolist(),
            self.bid.tolist(),
            self.ask.tolist(),
            self.volume.tolist(),
            strict=True,
        )
        return [Tick(self.symbol, ts, bid, ask, volume) for ts, bid, ask, volume in rows]


@dataclass(frozen=True, slots=True)
class BarColumns:
    """One symbol's OHLCV bars of one timeframe as columns, ascending by bar open time."""

    symbol: str
    timeframe: Timeframe
    ts: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]
    tick_count: NDArray[np.int64]

    @classmethod
    def of(cls, symbol: str, timeframe: Timeframe, columns: Sequence[Column]) -> BarColumns:
        """Build from the aggregation's columns, in ``BAR_COLUMN_TYPES`` order."""
        ts, open_, high, low, close, volume, tick_count = columns
        return cls(symbol, timeframe, ts, open_, high, low, close, volume, tick_count)

    def __len__(self) -> int:
        return len(self.ts)

    def bars(self) -> list[Bar]:
        """Return the rows as ``Bar`` objects, equal to what ``ohlcv`` returns."""
        rows = zip(
            self.ts.tolist(),
            self.open.tolist(),
            self.high.tolist(),
            self.low.tolist(),
            self.close.tolist(),
            self.volume.tolist(),
            self.tick_count.tolist(),
            strict=True,
        )
        return [
            Bar(self.symbol, self.timeframe, ts, open_, high, low, close, volume, count)
            for ts, open_, high, low, close, volume, count in rows
        ]
