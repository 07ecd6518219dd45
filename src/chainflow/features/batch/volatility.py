"""Volatility indicators on NumPy arrays: bands, channels, ATR, realized volatility, z-score.

Conventions (TA-Lib where TA-Lib has the indicator; otherwise stated here):

- Warm-up values are ``nan``; output ``i`` depends only on inputs ``0..i`` (no lookahead).
- Standard deviations are *population* (divide by ``n``), as TA-Lib ``STDDEV``/``BBANDS``.
- ``trange``: ``max(high, prev_close) - min(low, prev_close)``; index 0 is ``nan`` (TA-Lib).
- ``atr``: Wilder; the first value, at index ``n``, is the mean of the true ranges at
  ``1..n``; then ``atr[i] = (atr[i-1] * (n - 1) + tr[i]) / n`` (TA-Lib ``ATR``), computed
  without a division as ``atr[i-1] * ((n - 1) / n) + tr[i] * (1 / n)`` (~1e-15 relative
  from TA-Lib's rounding; see ``kernels_volatility``).
- ``keltner``: middle is the TA-Lib EMA of close (seeded with the SMA of the first ``n``
  closes, ``alpha = 2 / (n + 1)``), bands are ``middle ± k * atr(n)``; first value at ``n``.
- ``donchian``: highest high / lowest low of the last ``n`` bars (current one included),
  middle is their average; first value at ``n - 1``.
- Realized volatility is per bar (not annualized), zero-drift, over the last ``n`` bars:
  close-to-close ``sqrt(mean(ln(c_t / c_{t-1})^2))`` (first value at ``n``), Parkinson
  ``sqrt(mean(ln(h / l)^2) / (4 ln 2))``, Garman-Klass
  ``sqrt(mean(0.5 ln(h / l)^2 - (2 ln 2 - 1) ln(c / o)^2))`` (first value at ``n - 1``).
- ``zscore``: ``(x - mean) / std`` over the last ``n`` values including the current one
  (population std); ``0.0`` where the window is constant.

The indicators are compiled passes (``kernels_volatility``, ``kernels_extremes``,
``kernels_averages``), imported on first use so that importing this module does not
import numba.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.features.errors import InvalidFeatureInputError

__all__ = [
    "atr",
    "bandwidth",
    "bbands",
    "donchian",
    "keltner",
    "percent_b",
    "rv_close_to_close",
    "rv_garman_klass",
    "rv_parkinson",
    "trange",
    "zscore",
]

Array = NDArray[np.float64]

_LN2 = math.log(2.0)


def _arr(x: ArrayLike) -> Array:
    return np.ascontiguousarray(x, dtype=np.float64)


def _check_period(n: int, minimum: int = 1) -> None:
    if n < minimum:
        raise InvalidFeatureInputError(f"expected a period >= {minimum}; received {n}")


def _rolling_mean(x: Array, n: int) -> Array:
    """Rolling mean of the last ``n`` values; ``nan`` warm-up (and ``nan`` inputs propagate)."""
    from chainflow.features.batch.kernels_volatility import rolling_mean_kernel

    return rolling_mean_kernel(x, n)


def bbands(close: ArrayLike, n: int = 20, k: float = 2.0) -> tuple[Array, Array, Array]:
    """Bollinger Bands ``(upper, middle, lower)``: SMA ± ``k`` population std (TA-Lib)."""
    from chainflow.features.batch.kernels_volatility import BANDS, moments_kernel

    _check_period(n)
    return moments_kernel(_arr(close), n, float(k), BANDS)


def percent_b(close: ArrayLike, n: int = 20, k: float = 2.0) -> Array:
    """%B: ``(close - lower) / (upper - lower)``; ``nan`` where the bands collapse."""
    c = _arr(close)
    upper, _, lower = bbands(c, n, k)
    width = upper - lower
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(width > 0.0, (c - lower) / width, np.nan)


def bandwidth(close: ArrayLike, n: int = 20, k: float = 2.0) -> Array:
    """Bandwidth: ``(upper - lower) / middle``; ``nan`` where the middle is 0."""
    upper, middle, lower = bbands(close, n, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(middle != 0.0, (upper - lower) / middle, np.nan)


def trange(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> Array:
    """True range (TA-Lib ``TRANGE``); index 0 is ``nan``."""
    from chainflow.features.batch.kernels_volatility import trange_kernel

    return trange_kernel(_arr(high), _arr(low), _arr(close))


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> Array:
    """Average true range, Wilder (TA-Lib ``ATR``); first value at index ``n``."""
    from chainflow.features.batch.kernels_volatility import atr_kernel

    _check_period(n)
    if n == 1:
        return trange(high, low, close)
    return atr_kernel(_arr(high), _arr(low), _arr(close), n)


def keltner(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 20, k: float = 2.0
) -> tuple[Array, Array, Array]:
    """Keltner channel ``(upper, middle, lower)``: EMA(close, n) ± ``k`` · ATR(n)."""
    from chainflow.features.batch.kernels_averages import ema_kernel

    _check_period(n)
    a = atr(high, low, close, n)
    middle = ema_kernel(_arr(close), n, 2.0 / (n + 1))
    middle[np.isnan(a)] = np.nan
    return middle + k * a, middle, middle - k * a


def donchian(high: ArrayLike, low: ArrayLike, n: int = 20) -> tuple[Array, Array, Array]:
    """Donchian channel ``(upper, middle, lower)`` over the last ``n`` bars."""
    from chainflow.features.batch.kernels_extremes import rolling_extreme

    _check_period(n)
    h, lo = _arr(high), _arr(low)
    upper = np.full(h.shape, np.nan)
    lower = np.full(h.shape, np.nan)
    if h.size >= n:
        upper[n - 1 :] = rolling_extreme(h, n, True)
        lower[n - 1 :] = rolling_extreme(lo, n, False)
    return upper, (upper + lower) / 2.0, lower


def rv_close_to_close(close: ArrayLike, n: int = 20) -> Array:
    """Close-to-close realized volatility per bar: RMS of the last ``n`` log returns."""
    _check_period(n)
    c = _arr(close)
    r2 = np.full(c.shape, np.nan)
    if c.size > 1:
        r = np.log(c[1:] / c[:-1])
        r2[1:] = r * r
    return np.sqrt(_rolling_mean(r2, n))


def rv_parkinson(high: ArrayLike, low: ArrayLike, n: int = 20) -> Array:
    """Parkinson realized volatility per bar: ``sqrt(mean(ln(h/l)^2) / (4 ln 2))``."""
    _check_period(n)
    hl = np.log(_arr(high) / _arr(low))
    return np.sqrt(_rolling_mean(hl * hl, n) / (4.0 * _LN2))


def rv_garman_klass(
    open: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 20
) -> Array:
    """Garman-Klass realized volatility per bar (see the module docstring for the formula)."""
    _check_period(n)
    hl = np.log(_arr(high) / _arr(low))
    co = np.log(_arr(close) / _arr(open))
    term = 0.5 * hl * hl - (2.0 * _LN2 - 1.0) * co * co
    return np.sqrt(np.maximum(_rolling_mean(term, n), 0.0))


def zscore(x: ArrayLike, n: int = 20) -> Array:
    """Rolling z-score against the last ``n`` values (current included), population std."""
    from chainflow.features.batch.kernels_volatility import ZSCORE, moments_kernel

    _check_period(n)
    return moments_kernel(_arr(x), n, 0.0, ZSCORE)[0]
