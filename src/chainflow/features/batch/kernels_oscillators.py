"""Compiled oscillators: RSI, ROC/MOM, STOCH, WILLR and CCI, one pass each.

ROC, MOM and WILLR repeat the former NumPy/Python expressions operation for operation, so
they are bit-for-bit what they were. RSI's Wilder smoothing was TA-Lib's
``avg = (avg * (n - 1) + x) / n``: a division in the recursion, so each bar waited for
the previous one's division (~13 cycles). It is now ``avg * a + x * b`` with
``a = (n - 1) / n`` and ``b = 1 / n`` precomputed and one fused multiply-add
(``FUSED``): the same quantity rounded differently (``a`` and ``b`` carry one rounding
each), which the contraction ``a < 1`` keeps from accumulating: ~1e-15 relative, within
the TA-Lib and streaming tests' 1e-9 and the golden test's 1e-12. STOCH's smoothing and
CCI's mean and mean deviation are window sums, summed value by value here (in a
different order from NumPy's pairwise and BLAS sums for windows of more than 11 values:
equal to 1e-12).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from chainflow.features.batch.kernels_averages import FUSED, window_sum
from chainflow.features.batch.kernels_extremes import RAW_K, WILLR, range_position_kernel

FloatArray = NDArray[np.float64]

ROC, MOM = 0, 1


@njit(cache=True, nogil=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


@njit(cache=True, nogil=True, fastmath=FUSED)
def rsi_kernel(c: FloatArray, n: int) -> FloatArray:
    """TA-Lib ``RSI`` of ``c`` with Wilder smoothing, division-free (see the module doc);
    NaN for the first ``n`` values."""
    out = np.empty(c.size)
    for i in range(min(n, c.size)):
        out[i] = np.nan
    if c.size <= n:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, n + 1):
        d = c[i] - c[i - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    gain /= n
    loss /= n
    out[n] = _rsi_value(gain, loss)
    keep = (n - 1) / n
    weight = 1.0 / n
    for i in range(n + 1, c.size):
        d = (c[i] - c[i - 1]) * weight
        gain = gain * keep + max(d, 0.0)  # no branch on the sign of the change
        loss = loss * keep + max(-d, 0.0)
        out[i] = _rsi_value(gain, loss)
    return out


@njit(cache=True, nogil=True)
def change_kernel(c: FloatArray, n: int, mode: int) -> FloatArray:
    """``ROC``: ``(c / c[t - n] - 1) * 100`` (0 when ``c[t - n]`` is 0); ``MOM``: the
    difference ``c - c[t - n]``. NaN for the first ``n`` values.

    The loops index views from 0 (``now[i]``, ``before[i]``), not ``c[i - n]``: an index
    the compiler cannot prove non-negative gets a wraparound check that stops the loop
    from being vectorized (MOM took 2.2x TA-Lib).
    """
    out = np.empty(c.size)
    lead = min(n, c.size)
    out[:lead] = np.nan
    now = c[lead:]
    before = c[: c.size - lead]
    tail = out[lead:]
    if mode == MOM:
        for i in range(now.size):
            tail[i] = now[i] - before[i]
        return out
    for i in range(now.size):
        prev = before[i]
        ratio = now[i] / prev if prev != 0.0 else 1.0
        tail[i] = (ratio - 1.0) * 100.0
    return out


@njit(cache=True, nogil=True)
def stoch_kernel(
    h: FloatArray, lo: FloatArray, c: FloatArray, fastk: int, slowk: int, slowd: int
) -> tuple[FloatArray, FloatArray]:
    """Slow %K (SMA of raw %K over ``slowk``) and %D (SMA of slow %K over ``slowd``).

    Raw %K is ``(c - lowest) / ((highest - lowest) / 100)``, 0 on a flat range; both
    outputs start at ``fastk + slowk + slowd - 3``. Each mean is summed afresh from its
    window, oldest first.
    """
    raw = range_position_kernel(h, lo, c, fastk, RAW_K)
    slow = np.empty(c.size)
    k_out = np.empty(c.size)
    d_out = np.empty(c.size)
    first_k = fastk + slowk - 2
    start = first_k + slowd - 1
    for i in range(min(start, c.size)):
        k_out[i] = np.nan
        d_out[i] = np.nan
    for i in range(first_k, c.size):
        total = 0.0
        for j in range(i - slowk + 1, i + 1):
            total += raw[j]
        slow[i] = total / slowk
        if i < start:
            continue
        total = 0.0
        for j in range(i - slowd + 1, i + 1):
            total += slow[j]
        k_out[i] = slow[i]
        d_out[i] = total / slowd
    return k_out, d_out


@njit(cache=True, nogil=True)
def willr_kernel(h: FloatArray, lo: FloatArray, c: FloatArray, n: int) -> FloatArray:
    """Williams' %R ``(highest - c) / ((highest - lowest) / -100)``, 0 on a flat range."""
    return range_position_kernel(h, lo, c, n, WILLR)


@njit(cache=True, nogil=True)
def cci_kernel(h: FloatArray, lo: FloatArray, c: FloatArray, n: int, flat: float) -> FloatArray:
    """CCI of the typical price: ``(tp - mean) / (0.015 * mean deviation)`` per window;
    0 when either part is within ``flat * |mean|`` of 0. The typical prices of the window
    are kept in a ring; its mean and mean deviation are summed in four interleaved chains.
    """
    out = np.empty(c.size)
    for i in range(min(n - 1, c.size)):
        out[i] = np.nan
    ring = np.empty(n)
    slot = 0  # i % n, without a division per bar
    for i in range(c.size):
        tp = (h[i] + lo[i] + c[i]) / 3.0
        ring[slot] = tp
        slot = slot + 1 if slot + 1 < n else 0
        if i < n - 1:
            continue
        mean = _ring_sum(ring, n) / n
        dev_sum = 0.0
        a1 = a2 = a3 = 0.0
        body = n - n % 4
        for j in range(0, body, 4):
            dev_sum += abs(ring[j] - mean)
            a1 += abs(ring[j + 1] - mean)
            a2 += abs(ring[j + 2] - mean)
            a3 += abs(ring[j + 3] - mean)
        for j in range(body, n):
            dev_sum += abs(ring[j] - mean)
        mean_dev = ((dev_sum + a1) + (a2 + a3)) / n
        dev = tp - mean
        band = flat * abs(mean)
        if abs(dev) > band and mean_dev > band:
            out[i] = dev / (0.015 * mean_dev)
        else:
            out[i] = 0.0
    return out


@njit(cache=True, nogil=True)
def _ring_sum(ring: FloatArray, n: int) -> float:
    body = n - n % 4
    a0 = a1 = a2 = a3 = 0.0
    for j in range(0, body, 4):
        a0 += ring[j]
        a1 += ring[j + 1]
        a2 += ring[j + 2]
        a3 += ring[j + 3]
    return ((a0 + a1) + (a2 + a3)) + window_sum(ring, body, n)
