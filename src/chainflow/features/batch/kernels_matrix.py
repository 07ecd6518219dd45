"""Compiled helpers of ``chainflow.features.matrix``: spread, Bollinger columns, assembly.

``fill_rows`` writes the row-major matrix a band of ``ROWS_PER_BAND`` rows at a time, so
that the band stays in cache while every column is written into it (column by column
over the whole matrix, each value touched a different cache line: 1 s for 33 columns of
1M values; banded: the cost of the copy). It also does the work that needs no array of
its own: a column ``lag`` bars behind its source (the lagged returns share one source),
a column divided by a constant (the oscillators' ``/ 100``), and the calendar columns,
looked up in a table by the bar's minute of the day or weekday. Each of these as a fresh
8 MB NumPy array per 1M bars cost an allocation, the first touch of its pages and a pass
over memory, more than the copy itself. Minute and weekday are divided by compile-time
constants (a multiply and a shift each, where NumPy divides). Both kernels release the
GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

MINUTE_MS = 60_000
MINUTES_PER_DAY = 1440
DAY_MS = 86_400_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday: Monday is 0
ROWS_PER_BAND = 2048  # 2048 rows of 33 values: ~0.5 MB, within L2


@njit(cache=True, nogil=True)
def relative_spread_bps(spread: FloatArray, close: FloatArray, out: FloatArray) -> None:
    """``out = ffill(spread) / close * 1e4``: the spread, each NaN replaced by the last
    known value before it (pandas' ``ffill``; NaN before the first), in basis points of
    the close, in one pass."""
    last = np.nan
    for i in range(spread.size):
        if not np.isnan(spread[i]):
            last = spread[i]
        out[i] = last / close[i] * 1e4


@njit(cache=True, nogil=True)
def bollinger_percent_b(
    close: FloatArray, upper: FloatArray, lower: FloatArray, out: FloatArray
) -> None:
    """``out = (close - lower) / (upper - lower)``; 0.5 where the width is 0 (a flat
    window), NaN where it is NaN."""
    for i in range(close.size):
        width = upper[i] - lower[i]
        if width > 0.0:
            out[i] = (close[i] - lower[i]) / width
        elif np.isnan(width):
            out[i] = np.nan
        else:
            out[i] = 0.5


@njit(cache=True, nogil=True)
def bollinger_bandwidth(
    upper: FloatArray, middle: FloatArray, lower: FloatArray, out: FloatArray
) -> None:
    """``out = (upper - lower) / middle``; NaN where ``middle`` is 0."""
    for i in range(upper.size):
        out[i] = (upper[i] - lower[i]) / middle[i] if middle[i] != 0.0 else np.nan


@njit(cache=True, nogil=True)
def fill_rows(  # noqa: PLR0913 - one array per property of the columns, for numba
    out: FloatArray,
    sources: tuple[FloatArray, ...],
    source_of: IntArray,
    lags: IntArray,
    divisors: FloatArray,
    times: IntArray,
    tables: FloatArray,
    table_of: IntArray,
    by_day: BoolArray,
    first: int,
    stop: int,
) -> None:
    """Rows ``first:stop`` of ``out``, band by band. Column ``j`` is
    ``tables[table_of[j]]`` at each bar's weekday (``by_day[j]``) or minute of the day
    when ``table_of[j] >= 0``, else ``sources[source_of[j]][t - lags[j]] / divisors[j]``
    (NaN for ``t < lags[j]``; no division by 1). ``sources``: a tuple, compiled once per
    length (numba's typed lists compile their methods at run time, uncached)."""
    minute = np.empty(ROWS_PER_BAND, dtype=np.int64)
    day = np.empty(ROWS_PER_BAND, dtype=np.int64)
    for start in range(first, stop, ROWS_PER_BAND):
        end = min(start + ROWS_PER_BAND, stop)
        for i in range(start, end):
            t = times[i]
            minute[i - start] = (t // MINUTE_MS) % MINUTES_PER_DAY  # floor: right for t < 0
            day[i - start] = (t // DAY_MS + EPOCH_WEEKDAY) % 7
        for j in range(out.shape[1]):
            table = table_of[j]
            if table >= 0:
                index = day if by_day[j] else minute
                for i in range(start, end):
                    out[i, j] = tables[table, index[i - start]]
                continue
            column = sources[source_of[j]]
            lag = lags[j]
            divisor = divisors[j]
            known = max(start, min(lag, end))  # rows before ``lag``: NaN
            for i in range(start, known):
                out[i, j] = np.nan
            if divisor == 1.0:
                for i in range(known, end):
                    out[i, j] = column[i - lag]
            else:
                for i in range(known, end):
                    out[i, j] = column[i - lag] / divisor
