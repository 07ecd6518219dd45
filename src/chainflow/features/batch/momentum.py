"""Momentum oscillators on NumPy arrays, with TA-Lib's conventions and warm-up.

Inputs are 1-D float64 arrays without NaN (``high``, ``low``, ``close`` of equal length);
outputs have the same length, NaN exactly where TA-Lib has no value:

- ``rsi``: Wilder smoothing; the first average gain/loss is the plain mean of the first
  ``n`` changes, lookback ``n``; 0 when there was no change at all.
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
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from chainflow.features.batch.averages import (
    FloatArray,
    as_series,
    check_period,
    ema_core,
    nan_like,
    sma,
)

CCI_FLAT = 1e-14  # relative to |mean|: below it the window counts as flat (TA-Lib)


def _hlc(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> tuple[FloatArray, ...]:
    h, lo, c = as_series(high, "high"), as_series(low, "low"), as_series(close, "close")
    if not h.shape == lo.shape == c.shape:
        raise ValueError("high, low and close must have the same length")
    return h, lo, c


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """``num / den`` where ``den`` is not 0, else 0 (TA-Lib's guard on flat ranges)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0.0)


def rsi(close: ArrayLike, n: int = 14) -> FloatArray:
    """Relative Strength Index with Wilder smoothing (TA-Lib ``RSI``)."""
    check_period(n, 2)
    c = as_series(close, "close")
    out = nan_like(c)
    if c.size <= n:
        return out
    diffs = np.diff(c).tolist()
    gain = loss = 0.0
    for d in diffs[:n]:
        if d < 0:
            loss -= d
        else:
            gain += d
    gain /= n
    loss /= n
    values = [_rsi_value(gain, loss)]
    for d in diffs[n:]:
        gain *= n - 1
        loss *= n - 1
        if d < 0:
            loss -= d
        else:
            gain += d
        gain /= n
        loss /= n
        values.append(_rsi_value(gain, loss))
    out[n:] = values
    return out


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total != 0.0 else 0.0


def macd(
    close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram, aligned as TA-Lib's ``MACD``."""
    check_period(fast, 2, "fast")
    check_period(slow, 2, "slow")
    check_period(signal, 1, "signal")
    if slow < fast:  # TA-Lib swaps them
        fast, slow = slow, fast
    c = as_series(close, "close")
    line, sig = nan_like(c), nan_like(c)
    start = slow - 1 + signal - 1
    if c.size > start:
        slow_ema = ema_core(c, slow, 2.0 / (slow + 1))[slow - 1 :]
        fast_ema = ema_core(c[slow - fast :], fast, 2.0 / (fast + 1))[fast - 1 :]
        full_line = fast_ema - slow_ema
        line[start:] = full_line[signal - 1 :]
        sig[start:] = ema_core(full_line, signal, 2.0 / (signal + 1))[signal - 1 :]
    return line, sig, line - sig


def roc(close: ArrayLike, n: int = 10) -> FloatArray:
    """Rate of change in percent, ``(x / x[t - n] - 1) * 100`` (TA-Lib ``ROC``)."""
    check_period(n, 1)
    c = as_series(close, "close")
    out = nan_like(c)
    if c.size > n:
        prev = c[:-n]
        ratio = np.divide(c[n:], prev, out=np.ones_like(prev), where=prev != 0.0)
        out[n:] = (ratio - 1.0) * 100.0
    return out


def mom(close: ArrayLike, n: int = 10) -> FloatArray:
    """Momentum ``x - x[t - n]`` (TA-Lib ``MOM``)."""
    check_period(n, 1)
    c = as_series(close, "close")
    out = nan_like(c)
    if c.size > n:
        out[n:] = c[n:] - c[:-n]
    return out


def stoch(
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    fastk: int = 5,
    slowk: int = 3,
    slowd: int = 3,
) -> tuple[FloatArray, FloatArray]:
    """Slow stochastic %K and %D with SMA smoothing (TA-Lib ``STOCH``, matype 0)."""
    check_period(fastk, 1, "fastk")
    check_period(slowk, 1, "slowk")
    check_period(slowd, 1, "slowd")
    h, lo, c = _hlc(high, low, close)
    k_out, d_out = nan_like(c), nan_like(c)
    start = fastk + slowk + slowd - 3
    if c.size > start:
        highest = sliding_window_view(h, fastk).max(axis=1)
        lowest = sliding_window_view(lo, fastk).min(axis=1)
        raw = _ratio(c[fastk - 1 :] - lowest, (highest - lowest) / 100.0)
        k_full = _sma1(raw, slowk)[slowk - 1 :]
        d_full = _sma1(k_full, slowd)
        k_out[start:] = k_full[slowd - 1 :]
        d_out[start:] = d_full[slowd - 1 :]
    return k_out, d_out


def _sma1(x: FloatArray, n: int) -> FloatArray:
    """SMA allowing ``n == 1`` (identity), which the stochastic's smoothing permits."""
    return x.copy() if n == 1 else sma(x, n)


def willr(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> FloatArray:
    """Williams' %R in [-100, 0] (TA-Lib ``WILLR``)."""
    check_period(n, 2)
    h, lo, c = _hlc(high, low, close)
    out = nan_like(c)
    if c.size >= n:
        highest = sliding_window_view(h, n).max(axis=1)
        lowest = sliding_window_view(lo, n).min(axis=1)
        out[n - 1 :] = _ratio(highest - c[n - 1 :], (highest - lowest) / -100.0)
    return out


def cci(high: ArrayLike, low: ArrayLike, close: ArrayLike, n: int = 14) -> FloatArray:
    """Commodity Channel Index of the typical price (TA-Lib ``CCI``)."""
    check_period(n, 2)
    h, lo, c = _hlc(high, low, close)
    out = nan_like(c)
    if c.size >= n:
        tp = (h + lo + c) / 3.0
        windows = sliding_window_view(tp, n)
        mean = windows.sum(axis=1) / n
        mean_dev = np.abs(windows - mean[:, None]).sum(axis=1) / n
        dev = tp[n - 1 :] - mean
        band = CCI_FLAT * np.abs(mean)
        ok = (np.abs(dev) > band) & (mean_dev > band)
        out[n - 1 :] = np.divide(dev, 0.015 * mean_dev, out=np.zeros_like(dev), where=ok)
    return out
