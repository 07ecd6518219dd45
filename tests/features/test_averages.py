"""Moving averages: batch == TA-Lib, streaming == batch, snapshot/restore, no lookahead."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
import talib
from numpy.testing import assert_allclose, assert_array_equal

from chainflow.features.batch import averages as batch
from chainflow.features.stream import averages as stream
from chainflow.features.stream.base import StreamingIndicator
from tests.fixtures.market_data import make_ohlcv

RTOL = 1e-9
N = 20


CLOSE = make_ohlcv(seed=7, decimals=None).close

# name -> (batch function, TA-Lib function, streaming class)
CASES: dict[str, tuple[Callable[..., np.ndarray], Callable[..., np.ndarray], type]] = {
    "sma": (batch.sma, talib.SMA, stream.SMA),
    "ema": (batch.ema, talib.EMA, stream.EMA),
    "wma": (batch.wma, talib.WMA, stream.WMA),
    "dema": (batch.dema, talib.DEMA, stream.DEMA),
    "tema": (batch.tema, talib.TEMA, stream.TEMA),
}
NAMES = sorted(CASES)


def _assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert_array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    assert ok.any()
    assert_allclose(actual[ok], expected[ok], rtol=RTOL, atol=0)


def _stream(indicator: StreamingIndicator, xs: np.ndarray) -> np.ndarray:
    out = []
    for x in xs:
        indicator.update(x)
        out.append(indicator.value)
    return np.array(out)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [2, N])
def test_batch_matches_talib(name: str, n: int) -> None:
    fn, ta, _ = CASES[name]
    _assert_same(fn(CLOSE, n), ta(CLOSE, timeperiod=n))


@pytest.mark.parametrize("name", NAMES)
def test_short_input_is_all_nan(name: str) -> None:
    fn, ta, _ = CASES[name]
    short = CLOSE[: N - 1]
    assert np.isnan(fn(short, N)).all()
    assert np.isnan(ta(short, timeperiod=N)).all()


@pytest.mark.parametrize("name", NAMES)
def test_stream_matches_batch(name: str) -> None:
    fn, _, cls = CASES[name]
    ind = cls(N)
    values = _stream(ind, CLOSE)
    expected = fn(CLOSE, N)
    _assert_same(values, expected)
    ready_at = int(np.argmax(~np.isnan(expected)))  # index of the first value
    assert ind.count == CLOSE.size and ind.is_ready
    fresh = cls(N)
    _stream(fresh, CLOSE[:ready_at])
    assert not fresh.is_ready
    fresh.update(CLOSE[ready_at])
    assert fresh.is_ready


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cut", [5, 1500])  # during and after the warm-up
def test_snapshot_restore_continues_identically(name: str, cut: int) -> None:
    _, _, cls = CASES[name]
    original = cls(N)
    _stream(original, CLOSE[:cut])
    snap = json.loads(json.dumps(original.snapshot(), allow_nan=False))
    restored = cls(N)
    restored.restore(snap)
    assert restored.count == original.count
    rest = CLOSE[cut:]
    assert_array_equal(_stream(restored, rest), _stream(original, rest))


@pytest.mark.parametrize("name", NAMES)
def test_reset_and_parameter_checks(name: str) -> None:
    fn, _, cls = CASES[name]
    ind = cls(N)
    _stream(ind, CLOSE[:100])
    ind.reset()
    assert ind.count == 0 and not ind.is_ready and np.isnan(ind.value)
    assert_array_equal(_stream(ind, CLOSE[:200]), _stream(cls(N), CLOSE[:200]))
    with pytest.raises(ValueError):
        cls(N).restore(cls(N + 1).snapshot())
    with pytest.raises(ValueError):
        fn(CLOSE, 1)
    with pytest.raises(ValueError):
        cls(1)


@pytest.mark.parametrize("name", NAMES)
def test_no_lookahead(name: str) -> None:
    fn, _, _ = CASES[name]
    cut = 1000
    altered = CLOSE.copy()
    altered[cut + 1 :] *= np.random.default_rng(1).uniform(0.5, 1.5, CLOSE.size - cut - 1)
    before, after = fn(CLOSE, N), fn(altered, N)
    assert_array_equal(after[: cut + 1], before[: cut + 1])
    assert not np.array_equal(after[cut + 1 :], before[cut + 1 :])
