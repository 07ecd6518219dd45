"""Vectorized indicators on NumPy arrays, named as in TA-Lib in lower case; warm-up is NaN.

    from chainflow.features import batch
    batch.sma(close, 30)
    line, signal, hist = batch.macd(close, 12, 26, 9)

Every name here has a streaming twin in ``chainflow.features.stream`` (upper case) that
agrees with it to 1e-9 relative (DESIGN.md §4 and §6).
"""

from chainflow.features.batch.averages import dema, ema, sma, tema, wma
from chainflow.features.batch.momentum import cci, macd, mom, roc, rsi, stoch, willr
from chainflow.features.batch.trend import adx, minus_di, plus_di
from chainflow.features.batch.volatility import (
    atr,
    bandwidth,
    bbands,
    donchian,
    keltner,
    percent_b,
    rv_close_to_close,
    rv_garman_klass,
    rv_parkinson,
    trange,
    zscore,
)
from chainflow.features.batch.volume import obv, vwap

__all__ = [
    "adx",
    "atr",
    "bandwidth",
    "bbands",
    "cci",
    "dema",
    "donchian",
    "ema",
    "keltner",
    "macd",
    "minus_di",
    "mom",
    "obv",
    "percent_b",
    "plus_di",
    "roc",
    "rsi",
    "rv_close_to_close",
    "rv_garman_klass",
    "rv_parkinson",
    "sma",
    "stoch",
    "tema",
    "trange",
    "vwap",
    "willr",
    "wma",
    "zscore",
]
