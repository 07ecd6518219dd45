"""Momentum oscillators: batch == TA-Lib, streaming == batch, snapshot/restore, no lookahead."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import talib
from numpy.testing import assert_allclose, assert_array_equal

from chainflow.features.batch import momentum as batch
from chainflow.features.stream import momentum as stream
from chainflow.features.stream.base import StreamingIndicator
from tests.fixtures.market_data import make_ohlcv

RTOL = 1e-9
# Oscillators bounded in [0, 100] (or [-100, 0]) whose exact value is 0 at some bars (the
# close is the window's low): summation order leaves ~1e-14 there, which no relative
# tolerance accepts. An absolute 1e-9 on a 100-point scale is still far below meaning.
BOUNDED_ATOL = 1e-9
# CCI near 0 is a difference of two prices (tp - mean): its rounding is absolute, ~1e-12
# on CCI's +-100 scale, so the same absolute floor applies.


BARS = make_ohlcv(seed=11, decimals=None).as_dict()


@dataclass(frozen=True)
class Case:
    batch: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]]
    talib: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, ...]]
    make: Callable[[], StreamingIndicator]
    outputs: tuple[str, ...] = ("value",)
    uses_bars: bool = False  # update_bar(high, low, close) instead of update(close)
    atol: float = 0.0


def _hlc(b: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return b["high"], b["low"], b["close"]


CASES: dict[str, Case] = {
    "rsi": Case(
        lambda b: (batch.rsi(b["close"], 14),),
        lambda b: (talib.RSI(b["close"], 14),),
        lambda: stream.RSI(14),
        atol=BOUNDED_ATOL,
    ),
    "rsi_2": Case(
        lambda b: (batch.rsi(b["close"], 2),),
        lambda b: (talib.RSI(b["close"], 2),),
        lambda: stream.RSI(2),
        atol=BOUNDED_ATOL,
    ),
    "macd": Case(
        lambda b: batch.macd(b["close"]),
        lambda b: talib.MACD(b["close"]),
        stream.MACD,
        outputs=("line", "signal", "hist"),
    ),
    "macd_5_8_1": Case(
        lambda b: batch.macd(b["close"], 8, 5, 1),  # swapped periods, as TA-Lib accepts
        lambda b: talib.MACD(b["close"], 8, 5, 1),
        lambda: stream.MACD(8, 5, 1),
        outputs=("line", "signal", "hist"),
    ),
    "roc": Case(
        lambda b: (batch.roc(b["close"]),),
        lambda b: (talib.ROC(b["close"]),),
        stream.ROC,
    ),
    "mom": Case(
        lambda b: (batch.mom(b["close"], 3),),
        lambda b: (talib.MOM(b["close"], 3),),
        lambda: stream.MOM(3),
    ),
    "stoch": Case(
        lambda b: batch.stoch(*_hlc(b)),
        lambda b: talib.STOCH(*_hlc(b)),
        stream.STOCH,
        outputs=("slowk", "slowd"),
        uses_bars=True,
        atol=BOUNDED_ATOL,
    ),
    "stoch_14_1_4": Case(
        lambda b: batch.stoch(*_hlc(b), 14, 1, 4),
        lambda b: talib.STOCH(*_hlc(b), 14, 1, 0, 4, 0),
        lambda: stream.STOCH(14, 1, 4),
        outputs=("slowk", "slowd"),
        uses_bars=True,
        atol=BOUNDED_ATOL,
    ),
    "willr": Case(
        lambda b: (batch.willr(*_hlc(b)),),
        lambda b: (talib.WILLR(*_hlc(b)),),
        stream.WILLR,
        uses_bars=True,
        atol=BOUNDED_ATOL,
    ),
    "cci": Case(
        lambda b: (batch.cci(*_hlc(b), 20),),
        lambda b: (talib.CCI(*_hlc(b), 20),),
        lambda: stream.CCI(20),
        uses_bars=True,
        atol=BOUNDED_ATOL,
    ),
}
NAMES = sorted(CASES)


def _assert_same(actual: np.ndarray, expected: np.ndarray, atol: float) -> None:
    assert_array_equal(np.isnan(actual), np.isnan(expected))
    ok = ~np.isnan(expected)
    assert ok.any()
    assert_allclose(actual[ok], expected[ok], rtol=RTOL, atol=atol)


def _run(case: Case, ind: StreamingIndicator, start: int, stop: int) -> np.ndarray:
    """Feed bars ``start:stop``; return one row per bar, one column per output."""
    rows = []
    for t in range(start, stop):
        if case.uses_bars:
            ind.update_bar(BARS["high"][t], BARS["low"][t], BARS["close"][t])
        else:
            ind.update(BARS["close"][t])
        rows.append([getattr(ind, o) for o in case.outputs])
    return np.array(rows).reshape(-1, len(case.outputs))


@pytest.mark.parametrize("name", NAMES)
def test_batch_matches_talib(name: str) -> None:
    case = CASES[name]
    ours, theirs = case.batch(BARS), case.talib(BARS)
    assert len(ours) == len(theirs) == len(case.outputs)
    for a, e in zip(ours, theirs, strict=True):
        _assert_same(a, e, case.atol)


@pytest.mark.parametrize("name", NAMES)
def test_stream_matches_batch(name: str) -> None:
    case = CASES[name]
    ind = case.make()
    values = _run(case, ind, 0, BARS["close"].size)
    for col, expected in enumerate(case.batch(BARS)):
        _assert_same(values[:, col], expected, case.atol)
    assert ind.is_ready and ind.count == BARS["close"].size
    first = int(np.argmax(~np.isnan(case.batch(BARS)[0])))
    fresh = case.make()
    _run(case, fresh, 0, first)
    assert not fresh.is_ready
    _run(case, fresh, first, first + 1)
    assert fresh.is_ready


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cut", [3, 1500])  # during and after the warm-up
def test_snapshot_restore_continues_identically(name: str, cut: int) -> None:
    case = CASES[name]
    original = case.make()
    _run(case, original, 0, cut)
    snap = json.loads(json.dumps(original.snapshot(), allow_nan=False))
    restored = case.make()
    restored.restore(snap)
    assert restored.count == original.count
    stop = BARS["close"].size
    assert_array_equal(_run(case, restored, cut, stop), _run(case, original, cut, stop))


@pytest.mark.parametrize("name", NAMES)
def test_reset(name: str) -> None:
    case = CASES[name]
    ind = case.make()
    _run(case, ind, 0, 100)
    ind.reset()
    assert ind.count == 0 and not ind.is_ready
    assert_array_equal(_run(case, ind, 0, 200), _run(case, case.make(), 0, 200))


def test_restore_refuses_other_parameters() -> None:
    with pytest.raises(ValueError):
        stream.RSI(14).restore(stream.RSI(7).snapshot())
    with pytest.raises(ValueError):
        stream.MACD().restore(stream.ROC().snapshot())


def test_parameter_checks() -> None:
    with pytest.raises(ValueError):
        batch.rsi(BARS["close"], 1)
    with pytest.raises(ValueError):
        batch.stoch(*_hlc(BARS), 0)
    with pytest.raises(ValueError):
        batch.cci(BARS["high"], BARS["low"][:-1], BARS["close"])
    with pytest.raises(ValueError):
        stream.WILLR(1)


def test_flat_market_gives_zero_like_talib() -> None:
    flat = np.full(40, 1.1)
    assert_array_equal(batch.rsi(flat)[14:], talib.RSI(flat)[14:])
    assert_array_equal(batch.stoch(flat, flat, flat)[0][8:], talib.STOCH(flat, flat, flat)[0][8:])
    assert_array_equal(batch.willr(flat, flat, flat)[13:], talib.WILLR(flat, flat, flat)[13:])
    assert_array_equal(batch.cci(flat, flat, flat)[13:], talib.CCI(flat, flat, flat)[13:])
    stoch, cci = stream.STOCH(), stream.CCI()
    for x in flat:
        stoch.update_bar(x, x, x)
        cci.update_bar(x, x, x)
    assert stoch.slowk == stoch.slowd == cci.value == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_no_lookahead(name: str) -> None:
    case = CASES[name]
    cut = 1000
    factor = np.r_[np.ones(cut + 1), np.random.default_rng(2).uniform(0.9, 1.1, 3000 - cut - 1)]
    altered = {k: v * factor for k, v in BARS.items()}
    changed = False
    for before, after in zip(case.batch(BARS), case.batch(altered), strict=True):
        assert_array_equal(after[: cut + 1], before[: cut + 1])
        changed |= not np.array_equal(after[cut + 1 :], before[cut + 1 :])
    assert changed  # the alteration is visible, so the equality above is meaningful
