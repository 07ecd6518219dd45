"""Compiled rolling extremes: highest and lowest of the last ``n`` values.

``rolling_extreme``: a monotone queue of indices, O(1) per value (a NaN makes every
window holding it NaN, as NumPy's reduction does). ``range_position_kernel`` (WILLR and
STOCH's raw %K, inputs without NaN) cuts the series into blocks of ``n`` values (van Herk,
Gil and Werman): a window ending at offset ``j`` of a block is the previous block's
suffix from ``j + 1`` and this block's prefix to ``j``, so its highest high and lowest
low are ``max(suffix, prefix)`` and ``min(suffix, prefix)``: three comparisons per value
and series, no branch on the data (TA-Lib rescans the window when its extreme leaves it;
on a random walk that is often). The extreme of a window is one of its values, so the
result is exact whatever the order.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@njit(cache=True, nogil=True)
def rolling_extreme(x: FloatArray, n: int, highest: bool) -> FloatArray:
    """Max (``highest``) or min of each full window; ``out[i]`` ends at ``x[i + n - 1]``."""
    size = x.size - n + 1
    out = np.empty(max(size, 0))
    if size <= 0:
        return out
    queue = np.empty(x.size, dtype=np.int64)  # indices of candidate extremes, in order
    head = 0
    tail = 0
    last_nan = -n
    for i in range(x.size):
        v = x[i]
        if np.isnan(v):
            last_nan = i
        else:
            if highest:
                while tail > head and x[queue[tail - 1]] <= v:
                    tail -= 1
            else:
                while tail > head and x[queue[tail - 1]] >= v:
                    tail -= 1
            queue[tail] = i
            tail += 1
        if queue[head] <= i - n and tail > head:
            head += 1
        start = i - n + 1
        if start >= 0:
            out[start] = np.nan if i - last_nan < n or tail == head else x[queue[head]]
    return out


WILLR, RAW_K = 0, 1


@njit(cache=True, nogil=True)
def _suffixes(
    h: FloatArray, lo: FloatArray, start: int, n: int, hi_suf: FloatArray, lo_suf: FloatArray
) -> None:
    """``hi_suf[j] = max(h[start + j : start + n])`` and ``lo_suf[j]`` the min of ``lo``."""
    top = -np.inf
    bottom = np.inf
    for j in range(n - 1, -1, -1):
        top = max(top, h[start + j])
        hi_suf[j] = top
        bottom = min(bottom, lo[start + j])
        lo_suf[j] = bottom


@njit(cache=True, nogil=True)
def range_position_kernel(
    h: FloatArray, lo: FloatArray, c: FloatArray, n: int, mode: int
) -> FloatArray:
    """Where ``c`` lies in the range of the last ``n`` bars: ``WILLR``:
    ``(highest - c) / ((highest - lowest) / -100)``; ``RAW_K``:
    ``(c - lowest) / ((highest - lowest) / 100)``; 0 on a flat range, NaN before ``n - 1``.
    """
    size = c.size
    out = np.empty(size)
    for i in range(min(n - 1, size)):
        out[i] = np.nan
    hi_suf = np.full(n + 1, -np.inf)  # the previous block's suffixes; none past its end
    lo_suf = np.full(n + 1, np.inf)
    scale = -100.0 if mode == WILLR else 100.0
    for start in range(0, size, n):
        if start >= n:
            _suffixes(h, lo, start - n, n, hi_suf, lo_suf)
        top = -np.inf
        bottom = np.inf
        first = start if start >= n else n - 1
        for i in range(start, first):
            top = max(top, h[i])
            bottom = min(bottom, lo[i])
        for i in range(first, min(start + n, size)):
            top = max(top, h[i])
            bottom = min(bottom, lo[i])
            highest = max(hi_suf[i - start + 1], top)
            lowest = min(lo_suf[i - start + 1], bottom)
            den = (highest - lowest) / scale
            num = highest - c[i] if mode == WILLR else c[i] - lowest
            out[i] = num / den if den != 0.0 else 0.0
    return out
