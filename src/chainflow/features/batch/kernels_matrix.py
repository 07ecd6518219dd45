"""Compiled helpers of ``chainflow.features.matrix``: calendar indices, forward fill, rows.

``calendar_indices``: minute of the day, hour and weekday of each epoch-ms time, divided
by compile-time constants (a multiply and a shift each, where NumPy divides). ``fill_rows``
copies columns into the row-major matrix a band of ``ROWS_PER_BAND`` rows at a time, so
that the band stays in cache while every column is written into it (column by column
over the whole matrix, each value touched a different cache line: 1 s for 33 columns of
1M values; banded: the cost of the copy). Both release the GIL.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MINUTE_MS = 60_000
MINUTES_PER_DAY = 1440
DAY_MS = 86_400_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday: Monday is 0
ROWS_PER_BAND = 2048  # 2048 rows of 33 values: ~0.5 MB, within L2


@njit(cache=True, nogil=True)
def calendar_indices(times: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """``(minute of the day, hour of the day, weekday)`` of UTC epoch-ms ``times``."""
    minute = np.empty(times.size, dtype=np.int64)
    hour = np.empty(times.size, dtype=np.int64)
    day = np.empty(times.size, dtype=np.int64)
    for i in range(times.size):
        t = times[i]
        m = (t // MINUTE_MS) % MINUTES_PER_DAY  # floor division: right for t < 0 too
        minute[i] = m
        hour[i] = m // 60
        day[i] = (t // DAY_MS + EPOCH_WEEKDAY) % 7
    return minute, hour, day


@njit(cache=True, nogil=True)
def forward_fill(x: FloatArray) -> FloatArray:
    """``x`` with each NaN replaced by the last value before it that is not NaN (pandas'
    ``ffill``); NaN before the first such value."""
    out = np.empty(x.size)
    last = np.nan
    for i in range(x.size):
        if not np.isnan(x[i]):
            last = x[i]
        out[i] = last
    return out


@njit(cache=True, nogil=True)
def fill_rows(out: FloatArray, columns: tuple[FloatArray, ...], first: int, stop: int) -> None:
    """``out[first:stop, j] = columns[j][first:stop]`` for every ``j``, band by band
    (``columns``: a tuple, compiled once per length; numba's typed lists compile their
    methods at run time, uncached)."""
    for start in range(first, stop, ROWS_PER_BAND):
        end = min(start + ROWS_PER_BAND, stop)
        for j in range(len(columns)):
            column = columns[j]
            for i in range(start, end):
                out[i, j] = column[i]
