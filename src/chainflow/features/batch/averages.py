"""Moving averages on NumPy arrays, with TA-Lib's conventions and warm-up.

Every function takes a 1-D float64 array without NaN and returns an array of the same
length whose first ``lookback`` entries are NaN, exactly where TA-Lib puts them:

- ``sma``/``wma``: lookback ``n - 1``;
- ``ema``: lookback ``n - 1``; seeded with the SMA of the first ``n`` values, then
  ``ema += (x - ema) * 2 / (n + 1)`` (TA-Lib's default, not Metastock, seeding);
- ``dema``: ``2 * e1 - e2`` where ``e2`` is the EMA of ``e1`` from its first value on,
  lookback ``2 * (n - 1)``;
- ``tema``: ``3 * e1 - 3 * e2 + e3``, lookback ``3 * (n - 1)``.

The EMA recursion is a plain loop (O(n)); windowed sums are convolutions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def check_period(n: int, minimum: int, name: str = "n") -> None:
    """Raise ``ValueError`` unless ``n`` is an integer of at least ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise ValueError(f"expected {name} to be an integer >= {minimum}; received {n!r}")


def as_series(x: ArrayLike, name: str = "x") -> FloatArray:
    """Return ``x`` as a 1-D float64 array (a copy only when a conversion is needed)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected {name} to be one-dimensional; received shape {arr.shape}")
    return arr


def nan_like(x: FloatArray) -> FloatArray:
    """Return an all-NaN float64 array shaped like ``x``."""
    return np.full(x.shape, np.nan, dtype=np.float64)


def ema_core(x: FloatArray, n: int, k: float) -> FloatArray:
    """EMA of ``x`` (no NaN) seeded with the mean of the first ``n`` values; NaN before."""
    out = nan_like(x)
    if x.size < n:
        return out
    prev = sum(x[:n].tolist()) / n  # sequential, as TA-Lib and the streaming twin do
    out[n - 1] = prev
    values = []
    for v in x[n:].tolist():
        prev = (v - prev) * k + prev
        values.append(prev)
    out[n:] = values
    return out


def sma(x: ArrayLike, n: int) -> FloatArray:
    """Simple moving average over ``n`` values (TA-Lib ``SMA``)."""
    check_period(n, 2)
    arr = as_series(x)
    out = nan_like(arr)
    if arr.size >= n:
        out[n - 1 :] = np.convolve(arr, np.ones(n), "valid") / n
    return out


def ema(x: ArrayLike, n: int) -> FloatArray:
    """Exponential moving average, alpha ``2 / (n + 1)``, SMA-seeded (TA-Lib ``EMA``)."""
    check_period(n, 2)
    return ema_core(as_series(x), n, 2.0 / (n + 1))


def wma(x: ArrayLike, n: int) -> FloatArray:
    """Linearly weighted moving average, newest weight ``n`` (TA-Lib ``WMA``)."""
    check_period(n, 2)
    arr = as_series(x)
    out = nan_like(arr)
    if arr.size >= n:
        weights = np.arange(n, 0, -1, dtype=np.float64)  # convolve flips: newest gets n
        out[n - 1 :] = np.convolve(arr, weights, "valid") / (n * (n + 1) / 2.0)
    return out


def _ema_chain(arr: FloatArray, n: int, depth: int) -> list[FloatArray]:
    """EMA applied ``depth`` times, each from the first value of the previous one."""
    k = 2.0 / (n + 1)
    chain = [ema_core(arr, n, k)]
    for level in range(1, depth):
        start = level * (n - 1)
        nxt = nan_like(arr)
        nxt[start:] = ema_core(chain[-1][start:], n, k)
        chain.append(nxt)
    return chain


def dema(x: ArrayLike, n: int) -> FloatArray:
    """Double EMA ``2 * e1 - e2`` (TA-Lib ``DEMA``)."""
    check_period(n, 2)
    e1, e2 = _ema_chain(as_series(x), n, 2)
    return 2.0 * e1 - e2


def tema(x: ArrayLike, n: int) -> FloatArray:
    """Triple EMA ``3 * e1 - 3 * e2 + e3`` (TA-Lib ``TEMA``)."""
    check_period(n, 2)
    e1, e2, e3 = _ema_chain(as_series(x), n, 3)
    return 3.0 * e1 - 3.0 * e2 + e3
