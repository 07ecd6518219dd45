"""``BarSeries``: one symbol's bars as columns, the input of every batch computation.

The backtester, the training datasets and the batch feature matrix all take the same
columns (open time, OHLCV and the bar mean spread); one type, checked once where it is
built, replaces the three they had. ``core.market.Bar`` is the same bar as one object.

The arrays are contiguous ``int64``/``float64`` and read-only. They are views of what the
caller gave when its dtype and layout already fit (no copy: a 1M-bar backtest builds its
series and slices it per window without copying a column), so the caller must not write
those arrays afterwards; the read-only flag makes a write through the series fail loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.core.errors import InvalidBarsError

if TYPE_CHECKING:
    import pandas

__all__ = ["BarSeries"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_FRAME_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")
_FLOAT_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "spread")


def _read_only(values: Any, dtype: type[np.generic]) -> NDArray[Any]:
    """``values`` as a contiguous array of ``dtype`` that cannot be written through.

    No copy when ``values`` already fits: a read-only view of it instead (the caller's
    array stays writable)."""
    array: NDArray[Any] = np.ascontiguousarray(values, dtype=dtype)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, eq=False)
class BarSeries:
    """One symbol's bars: ``ts`` (each bar's open time, epoch ms UTC, strictly increasing),
    ``open``/``high``/``low``/``close`` (bid prices, as MT5 reports them), ``volume`` and
    ``spread`` (the bar's mean ask minus bid in price units, NaN where unknown).

    Built with ``from_arrays`` (any array-likes, ``spread=None`` for unknown everywhere) or
    ``from_frame``; the constructor itself takes the seven columns. Raises
    ``InvalidBarsError`` (a ``ValueError``) for columns that are not one series.
    """

    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    spread: FloatArray
    symbol: str = ""
    timeframe: str = ""

    def __post_init__(self) -> None:
        ts = _read_only(self.ts, np.int64)
        if ts.ndim != 1:
            raise InvalidBarsError(f"expected ts one-dimensional; received shape {ts.shape}")
        object.__setattr__(self, "ts", ts)
        size = ts.size
        for name in _FLOAT_FIELDS:
            array = _read_only(getattr(self, name), np.float64)
            if array.shape != (size,):
                raise InvalidBarsError(
                    f"expected {name} of shape ({size},) like ts; received {array.shape}"
                )
            object.__setattr__(self, name, array)
        if size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            at = int(np.flatnonzero(ts[1:] <= ts[:-1])[0])
            raise InvalidBarsError(
                f"expected strictly increasing ts: a bar after {int(ts[at])} at index "
                f"{at + 1}; received {int(ts[at + 1])}"
            )

    def __len__(self) -> int:
        return int(self.ts.size)

    def __reduce__(self) -> tuple[type[BarSeries], tuple[Any, ...]]:
        """Unpickle through the constructor, so that a copy sent to a worker process is
        read-only too (NumPy unpickles arrays writable)."""
        columns = tuple(getattr(self, name) for name in ("ts", *_FLOAT_FIELDS))
        return BarSeries, (*columns, self.symbol, self.timeframe)

    @property
    def has_spread(self) -> bool:
        """Whether any bar's spread is known."""
        return bool(np.isfinite(self.spread).any())

    def slice(self, start: int, stop: int) -> BarSeries:
        """The bars ``start:stop`` as views (no copy, no second check: a part of a valid
        series is one)."""
        part = object.__new__(BarSeries)
        for name in ("ts", *_FLOAT_FIELDS):
            object.__setattr__(part, name, getattr(self, name)[start:stop])
        object.__setattr__(part, "symbol", self.symbol)
        object.__setattr__(part, "timeframe", self.timeframe)
        return part

    def spread_array(self, default: float | None = None) -> FloatArray:
        """The spread to charge per bar: ``default`` on every bar if given, else the known
        spread with 0 where unknown (a new, writable array)."""
        if default is not None:
            return np.full(len(self), float(default))
        return np.nan_to_num(self.spread, nan=0.0)

    @classmethod
    def from_arrays(
        cls,
        *,
        ts: ArrayLike,
        open: ArrayLike,  # noqa: A002 - the bar field's name
        high: ArrayLike,
        low: ArrayLike,
        close: ArrayLike,
        volume: ArrayLike,
        spread: ArrayLike | None = None,
        symbol: str = "",
        timeframe: str = "",
    ) -> BarSeries:
        """The series of these columns (``spread=None``: unknown on every bar)."""
        ts_array = np.asarray(ts, dtype=np.int64)
        size = ts_array.size if ts_array.ndim == 1 else 0
        return cls(
            ts=ts_array,
            open=np.asarray(open, dtype=np.float64),
            high=np.asarray(high, dtype=np.float64),
            low=np.asarray(low, dtype=np.float64),
            close=np.asarray(close, dtype=np.float64),
            volume=np.asarray(volume, dtype=np.float64),
            spread=np.full(size, np.nan) if spread is None else np.asarray(spread, np.float64),
            symbol=symbol,
            timeframe=timeframe,
        )

    @classmethod
    def from_frame(
        cls, frame: pandas.DataFrame, symbol: str = "", timeframe: str = ""
    ) -> BarSeries:
        """The bars of a frame with columns ts/open/high/low/close/volume[/spread].

        ``ts`` may be epoch ms integers or datetimes (taken as UTC when naive).
        """
        missing = [c for c in _FRAME_COLUMNS if c not in frame.columns]
        if missing:
            raise InvalidBarsError(
                f"expected columns {list(_FRAME_COLUMNS)} (and optionally spread); "
                f"received {list(frame.columns)} (missing {missing})"
            )
        import pandas as pd

        ts_column = frame["ts"]
        ts: IntArray
        if pd.api.types.is_integer_dtype(ts_column.dtype):
            ts = ts_column.to_numpy(dtype=np.int64)
        else:
            stamps = pd.to_datetime(ts_column, utc=True).dt.as_unit("ms")
            # pandas-stubs widen to_numpy(dtype=np.int64) to any integer dtype
            ts = cast("IntArray", stamps.astype("int64").to_numpy(dtype=np.int64))
        has_spread = "spread" in frame.columns
        return cls.from_arrays(
            ts=ts,
            open=frame["open"].to_numpy(dtype=np.float64),
            high=frame["high"].to_numpy(dtype=np.float64),
            low=frame["low"].to_numpy(dtype=np.float64),
            close=frame["close"].to_numpy(dtype=np.float64),
            volume=frame["volume"].to_numpy(dtype=np.float64),
            spread=frame["spread"].to_numpy(dtype=np.float64) if has_spread else None,
            symbol=symbol,
            timeframe=timeframe,
        )
