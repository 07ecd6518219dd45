"""Compiled past-only rolling scalers, the batch side of ``chainflow.features.normalize``.

Each kernel writes into an ``out`` given by the caller (the feature matrix hands each a
row of one buffer, or the input itself: ``out[i]`` is written after ``x[i]`` is read,
so in place is safe) and walks the series once: a non-finite value gives NaN and is
skipped; a finite value is scaled by the statistics of the previous ``window`` finite
values, then enters the window. The z-score repeats pandas' rolling ``mean``
(Kahan-compensated running sum) and ``std(ddof=0)`` (Welford's update with a compensated
mean, summed afresh when an update cancels more than 1e3 ulp) operation for operation,
including the mean's rule that a window of identical values has exactly that value as
mean. The robust scaler keeps the window sorted (one ``memmove`` per value) and
interpolates quartiles with pandas' ``interpolation="linear"`` formula. The sorted window
carries every ``SAMPLE``-th value in a small array: a value's rank is a count of the
samples below it, then of the values below it in one stretch of ``SAMPLE``
(fixed-length counts, vectorized, no branch on the data), for the departing and the
arriving value together: ~15 ns where two binary searches (nine dependent loads each)
took ~100. (Tried for issue 21.1 and slower: blocks of 32-128 sorted values instead of
one sorted window, 114-135 ms per 1M values against 76; SAMPLE 8 or 32.)
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
DOUBLE = 8  # bytes
INV_COND_TOL = np.finfo(np.float64).eps * 1e3  # pandas: below it a variance update cancels
SAMPLE = 16  # the robust scaler's sorted window keeps every SAMPLE-th value aside


@intrinsic
def _memmove(typingctx, dst, src, nbytes):  # noqa: ARG001
    """``memmove(dst, src, nbytes)`` on addresses (LLVM's, a vectorized copy)."""
    sig = types.void(types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):  # noqa: ARG001
        byte_ptr = ir.IntType(8).as_pointer()
        to = builder.inttoptr(args[0], byte_ptr)
        start = builder.inttoptr(args[1], byte_ptr)
        cgutils.raw_memmove(builder, to, start, args[2], 1)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def _move(ordered: FloatArray, to: int, start: int, count: int) -> None:
    """``ordered[to:to + count] = ordered[start:start + count]`` (ranges may overlap)."""
    if count > 0:
        base = ordered.ctypes.data
        # numba's stub keeps the typing context in the call signature; jitted code omits it
        _memmove(  # type: ignore[call-arg]
            base + to * DOUBLE, base + start * DOUBLE, count * DOUBLE
        )


@njit(cache=True, nogil=True)
def _clip(z: float, clip: float) -> float:
    if z > clip:
        return clip
    if z < -clip:
        return -clip
    return z


@njit(cache=True, nogil=True)
def _var_add(val: float, nobs: int, mean_x: float, ssqdm: float, comp: float) -> tuple:
    """pandas' ``add_var`` (``nobs`` already counts ``val``); flags a cancellation."""
    prev_m2 = ssqdm
    prev_mean = mean_x - comp
    y = val - comp
    t = y - mean_x
    comp = t + mean_x - y
    mean_x = mean_x + t / nobs
    ssqdm = ssqdm + (val - prev_mean) * (val - mean_x)
    return mean_x, ssqdm, comp, prev_m2 * INV_COND_TOL > ssqdm


@njit(cache=True, nogil=True)
def zscore_scale_kernel(
    x: FloatArray, window: int, clip: float, min_periods: int, out: FloatArray
) -> None:
    """``out``: ``(x - mean) / std`` of the previous ``window`` finite values, clipped; 0
    where the std is 0; NaN for non-finite ``x`` and while fewer than ``min_periods`` are
    known."""
    ring = np.empty(window)  # the window's values, oldest at ``slot`` once full
    pushed = 0
    slot = 0  # pushed % window, without a division per value
    nobs = 0
    sum_x = 0.0  # pandas roll_mean: Kahan sums, negative count, trailing run
    neg_ct = 0
    comp_add = 0.0
    comp_remove = 0.0
    same = 0
    prev_value = np.nan
    mean_x = 0.0  # pandas roll_var: Welford with a compensated mean
    ssqdm = 0.0
    vcomp_add = 0.0
    vcomp_remove = 0.0
    for i in range(x.size):
        val = x[i]
        if not math.isfinite(val):
            out[i] = np.nan
            continue
        if nobs >= min_periods and nobs > 0:
            out[i] = _zscore_of(val, nobs, sum_x, neg_ct, same, prev_value, ssqdm, clip)
        else:
            out[i] = np.nan
        unstable = False
        if pushed >= window:  # remove the oldest value
            old = ring[slot]
            nobs -= 1
            y = -old - comp_remove
            t = sum_x + y
            comp_remove = t - sum_x - y
            sum_x = t
            neg_ct -= math.copysign(1.0, old) < 0.0
            if nobs:
                prev_m2 = ssqdm
                prev_mean = mean_x - vcomp_remove
                y = old - vcomp_remove
                t = y - mean_x
                vcomp_remove = t + mean_x - y
                mean_x -= t / nobs
                ssqdm -= (old - prev_mean) * (old - mean_x)
                unstable = prev_m2 * INV_COND_TOL > ssqdm
            else:
                mean_x = 0.0
                ssqdm = 0.0
        ring[slot] = val
        pushed += 1
        slot = slot + 1 if slot + 1 < window else 0
        nobs += 1
        y = val - comp_add
        t = sum_x + y
        comp_add = t - sum_x - y
        sum_x = t
        neg_ct += math.copysign(1.0, val) < 0.0
        same = same + 1 if val == prev_value else 1
        prev_value = val
        mean_x, ssqdm, vcomp_add, flagged = _var_add(val, nobs, mean_x, ssqdm, vcomp_add)
        if unstable or flagged:  # pandas sums the window afresh
            mean_x = ssqdm = vcomp_add = vcomp_remove = 0.0
            first = pushed - nobs
            for j in range(nobs):
                old = ring[(first + j) % window]
                mean_x, ssqdm, vcomp_add, _ = _var_add(old, j + 1, mean_x, ssqdm, vcomp_add)


@njit(cache=True, nogil=True)
def _zscore_of(
    val: float,
    nobs: int,
    sum_x: float,
    neg_ct: int,
    same: int,
    prev_value: float,
    ssqdm: float,
    clip: float,
) -> float:
    """pandas' ``calc_mean`` and ``calc_var`` (ddof 0), then the clipped z-score."""
    mean = sum_x / nobs
    if same >= nobs:
        mean = prev_value
    elif neg_ct == 0 and mean < 0:
        mean = 0.0
    elif neg_ct == nobs and mean > 0:
        mean = 0.0
    var = ssqdm / nobs
    std = math.sqrt(var) if var >= 0.0 else 0.0
    if std == 0.0:
        return 0.0
    return _clip((val - mean) / std, clip)


@njit(cache=True, nogil=True, inline="always")
def _quantile(ordered: FloatArray, m: int, q: float) -> float:
    """pandas' rolling ``quantile(q, interpolation="linear")`` of ``ordered[:m]``."""
    if m == 1:
        return ordered[0]
    position = q * (m - 1)
    low = int(position)
    if position == low:
        return ordered[low]
    v_low = ordered[low]
    return v_low + (ordered[low + 1] - v_low) * (position - low)


@njit(cache=True, nogil=True, inline="always")
def _ranks(ordered: FloatArray, samples: FloatArray, u: float, v: float) -> tuple[int, int]:
    """The number of values of ``ordered`` below ``u`` and below ``v``.

    ``ordered`` is sorted and padded with at least ``SAMPLE`` infinities;
    ``samples[k] == ordered[k * SAMPLE]``. Below ``u`` lie all values before the last
    sample below ``u`` and those of the next ``SAMPLE`` values that are below ``u``.
    """
    below_u = 0
    below_v = 0
    for k in range(samples.size):
        below_u += 1 if samples[k] < u else 0
        below_v += 1 if samples[k] < v else 0
    start_u = max(below_u - 1, 0) * SAMPLE
    start_v = max(below_v - 1, 0) * SAMPLE
    rank_u = start_u
    rank_v = start_v
    for j in range(SAMPLE):
        rank_u += 1 if ordered[start_u + j] < u else 0
        rank_v += 1 if ordered[start_v + j] < v else 0
    return rank_u, rank_v


@njit(cache=True, nogil=True, inline="always")
def _resample(ordered: FloatArray, samples: FloatArray, lo: int, hi: int) -> None:
    """Refresh the samples of ``ordered[lo:hi + 1]``, which changed."""
    for k in range((lo + SAMPLE - 1) // SAMPLE, hi // SAMPLE + 1):
        samples[k] = ordered[k * SAMPLE]


@njit(cache=True, nogil=True, inline="always")
def _replace(ordered: FloatArray, samples: FloatArray, old: float, new: float) -> None:
    """Replace one ``old`` of the sorted window by ``new``, keeping it sorted."""
    at, to = _ranks(ordered, samples, old, new)  # ordered[at] == old
    if new > old:
        to -= 1  # the values in (old, new) move left by one
        _move(ordered, at, at + 1, to - at)
        ordered[to] = new
        _resample(ordered, samples, at, to)
    else:
        _move(ordered, to + 1, to, at - to)
        ordered[to] = new
        _resample(ordered, samples, to, at)


@njit(cache=True, nogil=True, inline="always")
def _insert(ordered: FloatArray, samples: FloatArray, m: int, new: float) -> None:
    """Insert ``new`` into the sorted first ``m`` values of the window."""
    at = _ranks(ordered, samples, new, new)[0]
    _move(ordered, at + 1, at, m - at)
    ordered[at] = new
    _resample(ordered, samples, at, m)


@njit(cache=True, nogil=True)
def robust_scale_kernel(
    x: FloatArray, window: int, clip: float, min_periods: int, out: FloatArray
) -> None:
    """``out``: ``(x - median) / (q75 - q25)`` of the previous ``window`` finite values,
    clipped; 0 where the IQR is 0; NaN for non-finite ``x`` and before ``min_periods``
    values."""
    ring = np.empty(window)
    blocks = (window + SAMPLE - 1) // SAMPLE
    ordered = np.full((blocks + 1) * SAMPLE, np.inf)  # sorted window, then infinities
    samples = np.full(blocks, np.inf)
    pushed = 0
    slot = 0  # pushed % window, without a division per value
    for i in range(x.size):
        val = x[i]
        if not math.isfinite(val):
            out[i] = np.nan
            continue
        m = min(pushed, window)
        if m >= min_periods:
            q25 = _quantile(ordered, m, 0.25)
            iqr = _quantile(ordered, m, 0.75) - q25
            if iqr > 0.0:
                out[i] = _clip((val - _quantile(ordered, m, 0.5)) / iqr, clip)
            else:
                out[i] = 0.0
        else:
            out[i] = np.nan
        if pushed >= window:
            _replace(ordered, samples, ring[slot], val)
        else:
            _insert(ordered, samples, m, val)
        ring[slot] = val
        pushed += 1
        slot = slot + 1 if slot + 1 < window else 0
