"""Compiled moving averages: one pass, one preallocated output per indicator.

Recursions (EMA, DEMA, TEMA, MACD) repeat the former NumPy/Python loops operation for
operation (sequential seed sums, same expression order, no fused multiply-add), so they
are bit-for-bit what they were. Window sums (SMA, WMA) are sequential for windows of up to
``DIRECT_MAX`` values (bit-for-bit NumPy's unrolled ``small_correlate``) and running sums
above, summed afresh every ``RESUM`` values so that the drift stays below 1e-13 relative;
the old values there came from OpenBLAS's CPU-specific summation order, which no portable
code repeats (``tests/features/test_batch_kernels.py`` holds them to 1e-12).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

DIRECT_MAX = 11  # windows summed value by value (NumPy's small-kernel correlate)
RESUM = 256  # running window sums are summed afresh every RESUM values
# Fast-math flags of the Wilder recursions (ATR, RSI): ``a * x + y`` as one fused
# multiply-add (one rounding, one 4-cycle step in the recursion). Not used where results
# are bit-for-bit the former ones.
FUSED = {"contract"}


@njit(cache=True, nogil=True)
def window_sum(x: FloatArray, lo: int, hi: int) -> float:
    """Sequential sum of ``x[lo:hi]`` from 0."""
    total = 0.0
    for j in range(lo, hi):
        total += x[j]
    return total


@njit(cache=True, nogil=True)
def _nan_head(out: FloatArray, count: int) -> None:
    for i in range(min(count, out.size)):
        out[i] = np.nan


@njit(cache=True, nogil=True)
def sma_kernel(x: FloatArray, n: int) -> FloatArray:
    """Mean of each window of ``n`` values; NaN for the first ``n - 1``."""
    out = np.empty(x.size)
    _nan_head(out, n - 1)
    if n <= DIRECT_MAX:
        for i in range(n - 1, x.size):
            out[i] = window_sum(x, i - n + 1, i + 1) / n
        return out
    total = 0.0
    for i in range(n - 1, x.size):
        if (i - n + 1) % RESUM == 0:
            total = window_sum(x, i - n + 1, i + 1)
        else:
            total += x[i] - x[i - n]
        out[i] = total / n
    return out


@njit(cache=True, nogil=True)
def wma_kernel(x: FloatArray, n: int) -> FloatArray:
    """Linearly weighted mean (newest weight ``n``); NaN for the first ``n - 1``.

    Above ``DIRECT_MAX`` TA-Lib's running form: ``W += n * x[i] - S``, ``S`` the plain sum
    of the previous window, both summed afresh every ``RESUM`` values.
    """
    out = np.empty(x.size)
    _nan_head(out, n - 1)
    divisor = n * (n + 1) / 2.0
    if n <= DIRECT_MAX:
        for i in range(n - 1, x.size):
            dot = 0.0
            for j in range(n):
                dot = dot + x[i - n + 1 + j] * (j + 1.0)
            out[i] = dot / divisor
        return out
    for start in range(n - 1, x.size, RESUM):  # summed afresh at each start
        weighted = 0.0
        for j in range(n):
            weighted += x[start - n + 1 + j] * (j + 1.0)
        plain = window_sum(x, start - n + 1, start + 1)
        out[start] = weighted / divisor
        for i in range(start + 1, min(start + RESUM, x.size)):  # no branch per value
            weighted += n * x[i] - plain
            plain += x[i] - x[i - n]
            out[i] = weighted / divisor
    return out


@njit(cache=True, nogil=True)
def ema_into(x: FloatArray, lo: int, n: int, k: float, out: FloatArray) -> None:
    """TA-Lib's EMA of ``x[lo:]`` into ``out[lo:]``: NaN up to the seed at ``lo + n - 1``
    (the sequential mean of ``n`` values), then ``e = (x - e) * k + e``."""
    seed_at = lo + n - 1
    for i in range(lo, min(seed_at, x.size)):
        out[i] = np.nan
    if x.size <= seed_at:
        return
    prev = window_sum(x, lo, seed_at + 1) / n
    out[seed_at] = prev
    for i in range(seed_at + 1, x.size):
        prev = (x[i] - prev) * k + prev
        out[i] = prev


@njit(cache=True, nogil=True)
def ema_kernel(x: FloatArray, n: int, k: float) -> FloatArray:
    """EMA seeded with the sequential mean of the first ``n`` values; NaN before."""
    out = np.empty(x.size)
    ema_into(x, 0, n, k, out)
    return out


@njit(cache=True, nogil=True)
def ema_chain_kernel(x: FloatArray, n: int, depth: int) -> FloatArray:
    """DEMA (``depth`` 2: ``2 e1 - e2``) or TEMA (3: ``3 e1 - 3 e2 + e3``) in one pass.

    Level ``d`` is the EMA of level ``d - 1`` from that level's first value, so it is
    seeded at ``d * (n - 1)`` with the sequential mean of the ``n`` values ending there.
    Once every level is seeded, the levels are updated in registers, without a branch
    (the same operations: kept in an array, each level waited on its store, 2.4x TA-Lib).
    """
    out = np.empty(x.size)
    k = 2.0 / (n + 1)
    e = np.zeros(3)  # current value per level
    seed = np.zeros(3)  # seed sums per level
    warm = min(x.size, depth * (n - 1) + 1)  # the last level is seeded at depth * (n - 1)
    for i in range(warm):
        value = x[i]
        ready = True
        for d in range(depth):
            first = d * (n - 1)  # first input index of level d
            if i < first:
                ready = False
                break
            if i < first + n - 1:
                seed[d] += value
                ready = False
                break
            if i == first + n - 1:
                seed[d] += value
                e[d] = seed[d] / n
            else:
                e[d] = (value - e[d]) * k + e[d]
            value = e[d]
        if not ready:
            out[i] = np.nan
        elif depth == 2:
            out[i] = 2.0 * e[0] - e[1]
        else:
            out[i] = 3.0 * e[0] - 3.0 * e[1] + e[2]
    e0, e1, e2 = e[0], e[1], e[2]
    if depth == 2:
        for i in range(warm, x.size):
            e0 = (x[i] - e0) * k + e0
            e1 = (e0 - e1) * k + e1
            out[i] = 2.0 * e0 - e1
    else:
        for i in range(warm, x.size):
            e0 = (x[i] - e0) * k + e0
            e1 = (e0 - e1) * k + e1
            e2 = (e1 - e2) * k + e2
            out[i] = 3.0 * e0 - 3.0 * e1 + e2
    return out


@njit(cache=True, nogil=True)
def macd_kernel(
    c: FloatArray, fast: int, slow: int, signal: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal and histogram as TA-Lib aligns them, in one pass (``slow >= fast``).

    The fast EMA is seeded at ``slow - 1`` with the mean of the ``fast`` values ending
    there; the signal EMA is seeded with the mean of the first ``signal`` line values.
    """
    line = np.empty(c.size)
    sig = np.empty(c.size)
    hist = np.empty(c.size)
    start = slow - 1 + signal - 1
    for i in range(min(start, c.size)):
        line[i] = np.nan
        sig[i] = np.nan
        hist[i] = np.nan
    if c.size <= start:
        return line, sig, hist
    k_fast = 2.0 / (fast + 1)
    k_slow = 2.0 / (slow + 1)
    k_sig = 2.0 / (signal + 1)
    e_slow = window_sum(c, 0, slow) / slow
    e_fast = window_sum(c, slow - fast, slow) / fast
    seed = 0.0
    e_sig = 0.0
    for i in range(slow - 1, c.size):
        if i >= slow:
            e_slow = (c[i] - e_slow) * k_slow + e_slow
            e_fast = (c[i] - e_fast) * k_fast + e_fast
        value = e_fast - e_slow
        if i < start:
            seed += value
            continue
        if i == start:
            e_sig = (seed + value) / signal
        else:
            e_sig = (value - e_sig) * k_sig + e_sig
        line[i] = value
        sig[i] = e_sig
        hist[i] = value - e_sig
    return line, sig, hist
