"""The documented import paths (DESIGN.md §4): ``chainflow.features.batch`` and ``.stream``.

``from chainflow.features import batch; batch.sma(close, 30)`` is the stable API. Both
packages export the same indicators (batch in lower case, stream in upper case), and each
exported batch function that TA-Lib also has gives TA-Lib's numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import talib
from numpy.testing import assert_allclose

from chainflow.features import batch, stream
from tests.fixtures.market_data import make_ohlcv

DATA = make_ohlcv(seed=23, decimals=None)
H, L, C, V = DATA.high, DATA.low, DATA.close, DATA.volume

# Our name -> (our call, TA-Lib's call) on the same bars with the same parameters.
TALIB_TWINS: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
    "sma": (lambda: batch.sma(C, 30), lambda: talib.SMA(C, 30)),
    "ema": (lambda: batch.ema(C, 30), lambda: talib.EMA(C, 30)),
    "wma": (lambda: batch.wma(C, 30), lambda: talib.WMA(C, 30)),
    "dema": (lambda: batch.dema(C, 20), lambda: talib.DEMA(C, 20)),
    "tema": (lambda: batch.tema(C, 20), lambda: talib.TEMA(C, 20)),
    "rsi": (lambda: batch.rsi(C, 14), lambda: talib.RSI(C, 14)),
    "macd": (lambda: batch.macd(C, 12, 26, 9), lambda: talib.MACD(C, 12, 26, 9)),
    "roc": (lambda: batch.roc(C, 10), lambda: talib.ROC(C, 10)),
    "mom": (lambda: batch.mom(C, 10), lambda: talib.MOM(C, 10)),
    "stoch": (lambda: batch.stoch(H, L, C, 5, 3, 3), lambda: talib.STOCH(H, L, C, 5, 3, 0, 3, 0)),
    "willr": (lambda: batch.willr(H, L, C, 14), lambda: talib.WILLR(H, L, C, 14)),
    "cci": (lambda: batch.cci(H, L, C, 14), lambda: talib.CCI(H, L, C, 14)),
    "adx": (lambda: batch.adx(H, L, C, 14), lambda: talib.ADX(H, L, C, 14)),
    "plus_di": (lambda: batch.plus_di(H, L, C, 14), lambda: talib.PLUS_DI(H, L, C, 14)),
    "minus_di": (lambda: batch.minus_di(H, L, C, 14), lambda: talib.MINUS_DI(H, L, C, 14)),
    "bbands": (lambda: batch.bbands(C, 20, 2.0), lambda: talib.BBANDS(C, 20, 2.0, 2.0, 0)),
    "trange": (lambda: batch.trange(H, L, C), lambda: talib.TRANGE(H, L, C)),
    "atr": (lambda: batch.atr(H, L, C, 14), lambda: talib.ATR(H, L, C, 14)),
    "obv": (lambda: batch.obv(C, V), lambda: talib.OBV(C, V)),
}


def test_batch_and_stream_export_the_same_indicators() -> None:
    streaming = {name.lower() for name in stream.__all__ if name != "StreamingIndicator"}
    assert set(batch.__all__) == streaming
    for name in batch.__all__:
        assert callable(getattr(batch, name)), name
    for name in stream.__all__:
        assert issubclass(getattr(stream, name), stream.StreamingIndicator), name


def test_the_documented_calls_work_as_written() -> None:
    assert np.isnan(batch.sma(C, 30)[28]) and not np.isnan(batch.sma(C, 30)[29])
    line, signal, hist = batch.macd(C, 12, 26, 9)
    assert_allclose(hist, line - signal, equal_nan=True)
    upper, middle, lower = batch.bbands(C, 20, 2.0)
    assert np.nanmin(upper - lower) >= 0.0


@pytest.mark.parametrize("name", sorted(TALIB_TWINS))
def test_each_exported_indicator_matches_talib(name: str) -> None:
    ours, theirs = (call() for call in TALIB_TWINS[name])
    ours_t = ours if isinstance(ours, tuple) else (ours,)
    theirs_t = theirs if isinstance(theirs, tuple) else (theirs,)
    assert len(ours_t) == len(theirs_t)
    for mine, reference in zip(ours_t, theirs_t, strict=True):
        assert_allclose(mine, reference, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_every_talib_twin_is_exported() -> None:
    assert set(TALIB_TWINS) <= set(batch.__all__)
