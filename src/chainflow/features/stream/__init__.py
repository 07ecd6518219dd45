"""Streaming indicators: O(1) update, constant memory, snapshot/restore (DESIGN.md section 4).

    from chainflow.features import stream
    rsi = stream.RSI(14)
    value = rsi.update(close)

Every class here is the streaming twin of the lower-case function of the same name in
``chainflow.features.batch`` and agrees with it to 1e-9 relative.
"""

from chainflow.features.stream.averages import DEMA, EMA, SMA, TEMA, WMA
from chainflow.features.stream.base import StreamingIndicator
from chainflow.features.stream.momentum import MACD, MOM, ROC, RSI
from chainflow.features.stream.oscillators import CCI, STOCH, WILLR
from chainflow.features.stream.realized import (
    RV_CLOSE_TO_CLOSE,
    RV_GARMAN_KLASS,
    RV_PARKINSON,
    ZSCORE,
)
from chainflow.features.stream.trend import ADX, MINUS_DI, PLUS_DI
from chainflow.features.stream.volatility import (
    ATR,
    BANDWIDTH,
    BBANDS,
    DONCHIAN,
    KELTNER,
    PERCENT_B,
    TRANGE,
)
from chainflow.features.stream.volume import OBV, VWAP

__all__ = [
    "ADX",
    "ATR",
    "BANDWIDTH",
    "BBANDS",
    "CCI",
    "DEMA",
    "DONCHIAN",
    "EMA",
    "KELTNER",
    "MACD",
    "MINUS_DI",
    "MOM",
    "OBV",
    "PERCENT_B",
    "PLUS_DI",
    "ROC",
    "RSI",
    "RV_CLOSE_TO_CLOSE",
    "RV_GARMAN_KLASS",
    "RV_PARKINSON",
    "SMA",
    "STOCH",
    "StreamingIndicator",
    "TEMA",
    "TRANGE",
    "VWAP",
    "WILLR",
    "WMA",
    "ZSCORE",
]
