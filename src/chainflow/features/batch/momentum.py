"""Momentum oscillators on NumPy arrays, with TA-Lib's conventions and warm-up.

Inputs are 1-D float64 arrays without NaN (``high``, ``low``, ``close`` of equal length);
outputs have the same length, NaN exactly where TA-Lib has no value:

- ``rsi``: Wilder smoothing; the first average gain/loss is the plain mean of the first
  ``n`` changes, lookback ``n``; 0 when there was no change at all. The smoothing
  ``avg * (n - 1) / n + x / n`` is computed with ``(n - 1) / n`` and ``1 / n``
  precomputed (no division in the recursion; ~1e-15 relative from TA-Lib's rounding).
- ``macd``: lookback ``slow - 1 + signal - 1`` for all three outputs. As in TA-Lib the fast
  EMA starts at the slow EMA's first index, seeded with the mean of the ``fast`` values
  ending there (not at index ``fast - 1``); the signal is the EMA of the line.
- ``roc``: ``(x / x[t - n] - 1) * 100`` (0 when ``x[t - n]`` is 0); ``mom``: ``x - x[t-n]``.
- ``stoch``: raw %K over ``fastk`` bars (0 when the range is 0), slow %K its SMA over
  ``slowk``, slow %D the SMA of slow %K over ``slowd`` (TA-Lib's default matype 0); both
  outputs from ``fastk + slowk + slowd - 3`` on.
- ``willr``: ``-100 * (highest - close) / (highest - lowest)``, 0 on a flat range.
- ``cci``: ``(tp - mean) / (0.015 * mean deviation)`` of the typical price
  ``(high + low + close) / 3`` over ``n`` bars; 0 when either part is within
  ``CCI_FLAT * |mean|`` of 0 (TA-Lib's flat-window band, which absorbs the rounding
  residue an all-equal window leaves in the mean).

Each is one compiled pass (``kernels_oscillators``, ``kernels_averages``), imported on
first use so that importing this module does not import numba.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from chainflow.features.batch.averages import FloatArray, as_series, check_period
from chainflow.features.errors import InvalidFeatureInputError

CCI_FLAT = 1e-14  # relative to |mean|: below it the window counts as flat (TA-Lib)


def _hlc(
    high: ArrayLike, low: ArrayLike, close: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    h, lo, c = as_series(high, "high"), as_series(low, "low"), as_series(close, "close")
    if not h.shape == lo.shape == c.shape:
        raise InvalidFeatureInputError("high, low and close must have the same length")
    return h, lo, c


def rsi(close: ArrayLike, n: int = 14) -> FloatArray:
    """Relative Strength Index with Wilder smoothing (TA-Lib ``RSI``)."""
    from chainflow.features.batch.kernels_oscillators import rsi_kernel

    check_period(n, 2)
    return rsi_kernel(as_series(close, "close"), n)


def macd(
    close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram, aligned as TA-Lib's ``MACD``."""
    from chainflow.features.batch.kernels_averages import macd_kernel

    check_period(fast, 2, "fast")
    check_period(slow, 2, "slow")
    check_period(signal, 1, "signal")
    if slow < fast:  # TA-Lib swaps them
        fast, slow = slow, fast
    return macd_kernel(as_series(close, "close"), fast, slow, signal)


def roc(close: ArrayLike, n: int = 10) -> FloatArray:
    """Rate of change in percent, ``(x / x[t - n] - 1) * 100`` (TA-Lib ``ROC``)."""
    from chainflow.features.batch.kernels_oscillators import ROC, change_kernel

    check_period(n, 1)
    return change_kernel(as_series(close, "close"), n, ROC)


def mom(close: ArrayLike, n: int = 10) -> FloatArray:
    """Momentum ``x - x[t - n]`` (TA-Lib ``MOM``)."""
    from chainflow.features.batch.kernels_oscillators import MOM, change_kernel

    check_period(n, 1)
    return change_kernel(as_series(close, "close"), n, MOM)


def stoch(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    fastk: int = 5,
    slowk: int = 3,
    slowd: int = 3,
) -> tuple[FloatArray, FloatArray]:
    """Slow stochastic %K and %D with SMA smoothing (TA-Lib ``STOCH``, matype 0)."""
    from chainflow.features.batch.kernels_oscillators import stoch_kernel

    check_period(fastk, 1, "fastk")
    check_period(slowk, 1, "slowk")
    check_period(slowd, 1, "slowd")
    return stoch_kernel(*_hlc(high, low, close), fastk, slowk, slowd)


def willr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> FloatArray:
    """Williams' %R in [-100, 0] (TA-Lib ``WILLR``)."""
    from chainflow.features.batch.kernels_oscillators import willr_kernel

    check_period(n, 2)
    return willr_kernel(*_hlc(high, low, close), n)


def cci(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> FloatArray:
    """Commodity Channel Index of the typical price (TA-Lib ``CCI``)."""
    from chainflow.features.batch.kernels_oscillators import cci_kernel

    check_period(n, 2)
    return cci_kernel(*_hlc(high, low, close), n, CCI_FLAT)
