"""Volatility indicators: batch == TA-Lib / pure-Python reference, streaming == batch,
snapshot/restore continuation, no lookahead (shared checks in tests/fixtures/indicator_checks).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import talib
from numpy.testing import assert_allclose

from chainflow.features.batch import volatility as bv
from chainflow.features.stream import volatility as sv
from tests.fixtures.indicator_checks import (
    DATA,
    RTOL,
    Case,
    Lines,
    assert_same_series,
    check_no_lookahead,
    check_snapshot_restore,
    check_stream_equals_batch,
)
from tests.fixtures.market_data import OHLCV

# --------------------------------------------------------------------------- TA-Lib


@pytest.mark.parametrize("n", [2, 5, 14, 20, 50])
@pytest.mark.parametrize("k", [1.0, 2.0, 2.5])
def test_bbands_matches_talib(n: int, k: float) -> None:
    ours = bv.bbands(DATA.close, n, k)
    ref = talib.BBANDS(DATA.close, timeperiod=n, nbdevup=k, nbdevdn=k, matype=0)
    for o, r in zip(ours, ref, strict=True):
        assert_same_series(o, r)


@pytest.mark.parametrize("n", [1, 2, 5, 14, 20, 50])
def test_atr_matches_talib(n: int) -> None:
    assert_same_series(
        bv.atr(DATA.high, DATA.low, DATA.close, n),
        talib.ATR(DATA.high, DATA.low, DATA.close, timeperiod=n),
    )


def test_trange_matches_talib() -> None:
    assert_same_series(
        bv.trange(DATA.high, DATA.low, DATA.close), talib.TRANGE(DATA.high, DATA.low, DATA.close)
    )


def test_trange_picks_as_pythons_max_and_min_with_nan_and_infinities() -> None:
    # The kernel picks with selects (which vectorize); each value must be what
    # ``max(high, prev) - min(low, prev)`` gives in Python, bit for bit, NaN included.
    rng = np.random.default_rng(11)
    size = 5_000
    close = 1.1 + np.cumsum(rng.normal(0.0, 1e-4, size))
    high = close + np.abs(rng.normal(0.0, 1e-4, size))
    low = close - np.abs(rng.normal(0.0, 1e-4, size))
    for column in (close, high, low):
        column[rng.integers(0, size, 300)] = np.nan
        column[rng.integers(0, size, 50)] = np.inf
        column[rng.integers(0, size, 50)] = -np.inf
    expected = np.full(size, np.nan)
    for i in range(1, size):
        prev = float(close[i - 1])
        expected[i] = max(float(high[i]), prev) - min(float(low[i]), prev)
    got = bv.trange(high, low, close)
    assert got.view(np.int64).tolist() == expected.view(np.int64).tolist()


# ------------------------------------------------------------ pure-Python references


def _ref_bbands(close: np.ndarray, n: int, k: float) -> Lines:
    up, mid, lo = (np.full(close.size, np.nan) for _ in range(3))
    for i in range(n - 1, close.size):
        w = close[i - n + 1 : i + 1].tolist()
        m = math.fsum(w) / n
        s = statistics.pstdev(w)
        up[i], mid[i], lo[i] = m + k * s, m, m - k * s
    return up, mid, lo


def test_percent_b_and_bandwidth_match_reference() -> None:
    up, mid, lo = _ref_bbands(DATA.close, 20, 2.0)
    assert_same_series(bv.percent_b(DATA.close, 20, 2.0), (DATA.close - lo) / (up - lo))
    assert_same_series(bv.bandwidth(DATA.close, 20, 2.0), (up - lo) / mid)


def test_bbands_matches_reference() -> None:
    for o, r in zip(bv.bbands(DATA.close, 20, 2.0), _ref_bbands(DATA.close, 20, 2.0), strict=True):
        assert_same_series(o, r)


@pytest.mark.parametrize("n", [5, 20])
def test_keltner_matches_reference(n: int) -> None:
    c = DATA.close.tolist()
    ema = [math.nan] * len(c)
    ema[n - 1] = sum(c[:n]) / n
    for i in range(n, len(c)):
        ema[i] = ema[i - 1] + 2.0 / (n + 1) * (c[i] - ema[i - 1])
    mid = np.array(ema)
    a = talib.ATR(DATA.high, DATA.low, DATA.close, timeperiod=n)
    mid[np.isnan(a)] = np.nan
    up, m, lo = bv.keltner(DATA.high, DATA.low, DATA.close, n, 1.5)
    assert_same_series(m, mid)
    assert_same_series(up, mid + 1.5 * a)
    assert_same_series(lo, mid - 1.5 * a)
    assert int(np.flatnonzero(~np.isnan(m))[0]) == n


def test_donchian_matches_reference() -> None:
    n = 20
    up, mid, lo = bv.donchian(DATA.high, DATA.low, n)
    h, lw = DATA.high.tolist(), DATA.low.tolist()
    ref_up = [math.nan] * (n - 1) + [max(h[i - n + 1 : i + 1]) for i in range(n - 1, len(h))]
    ref_lo = [math.nan] * (n - 1) + [min(lw[i - n + 1 : i + 1]) for i in range(n - 1, len(h))]
    assert_same_series(up, ref_up)
    assert_same_series(lo, ref_lo)
    assert_same_series(mid, (np.array(ref_up) + np.array(ref_lo)) / 2)


def _rolling_ref(terms: list[float], n: int, first: int, f: Callable[[float], float]):
    out = [math.nan] * len(terms)
    for i in range(first + n - 1, len(terms)):
        out[i] = f(math.fsum(terms[i - n + 1 : i + 1]) / n)
    return out


def test_realized_volatility_matches_reference() -> None:
    n = 20
    o, h, lw, c = (x.tolist() for x in (DATA.open, DATA.high, DATA.low, DATA.close))
    r2 = [math.nan] + [math.log(c[i] / c[i - 1]) ** 2 for i in range(1, len(c))]
    assert_same_series(bv.rv_close_to_close(DATA.close, n), _rolling_ref(r2, n, 1, math.sqrt))
    hl2 = [math.log(a / b) ** 2 for a, b in zip(h, lw, strict=True)]
    park = _rolling_ref(hl2, n, 0, lambda m: math.sqrt(m / (4 * math.log(2))))
    assert_same_series(bv.rv_parkinson(DATA.high, DATA.low, n), park)
    gk_terms = [
        0.5 * math.log(hh / ll) ** 2 - (2 * math.log(2) - 1) * math.log(cc / oo) ** 2
        for oo, hh, ll, cc in zip(o, h, lw, c, strict=True)
    ]
    gk = _rolling_ref(gk_terms, n, 0, math.sqrt)
    assert_same_series(bv.rv_garman_klass(DATA.open, DATA.high, DATA.low, DATA.close, n), gk)


def test_zscore_matches_reference() -> None:
    n = 30
    x = DATA.close.tolist()
    ref = [math.nan] * len(x)
    for i in range(n - 1, len(x)):
        w = x[i - n + 1 : i + 1]
        ref[i] = (x[i] - statistics.fmean(w)) / statistics.pstdev(w)
    assert_same_series(bv.zscore(DATA.close, n), ref)
    assert bv.zscore(np.ones(10), 3)[2:].tolist() == [0.0] * 8


def test_bad_period_rejected() -> None:
    with pytest.raises(ValueError):
        bv.bbands(DATA.close, 0)
    with pytest.raises(ValueError):
        sv.ATR(0)


# ------------------------------------------------------- streaming twins and behaviour


def _hlc(ind: Any, d: OHLCV, i: int) -> Any:
    return ind.update_bar(d.high[i], d.low[i], d.close[i])


def _bands(ind: Any) -> tuple[float, ...]:
    return (ind.upper, ind.middle, ind.lower)


CASES = [
    Case(
        "BBANDS",
        lambda d: bv.bbands(d.close, 20, 2.0),
        lambda: sv.BBANDS(20, 2.0),
        lambda ind, d, i: ind.update(d.close[i]),
        _bands,
    ),
    Case(
        "PERCENT_B",
        lambda d: (bv.percent_b(d.close, 14, 1.5),),
        lambda: sv.PERCENT_B(14, 1.5),
        lambda ind, d, i: ind.update(d.close[i]),
    ),
    Case(
        "BANDWIDTH",
        lambda d: (bv.bandwidth(d.close, 14, 1.5),),
        lambda: sv.BANDWIDTH(14, 1.5),
        lambda ind, d, i: ind.update(d.close[i]),
    ),
    Case("TRANGE", lambda d: (bv.trange(d.high, d.low, d.close),), sv.TRANGE, _hlc),
    Case("ATR", lambda d: (bv.atr(d.high, d.low, d.close, 14),), lambda: sv.ATR(14), _hlc),
    Case("ATR1", lambda d: (bv.atr(d.high, d.low, d.close, 1),), lambda: sv.ATR(1), _hlc),
    Case(
        "KELTNER",
        lambda d: bv.keltner(d.high, d.low, d.close, 20, 2.0),
        lambda: sv.KELTNER(20, 2.0),
        _hlc,
        _bands,
    ),
    Case(
        "DONCHIAN",
        lambda d: bv.donchian(d.high, d.low, 20),
        lambda: sv.DONCHIAN(20),
        lambda ind, d, i: ind.update_bar(d.high[i], d.low[i]),
        _bands,
    ),
    Case(
        "RV_CLOSE_TO_CLOSE",
        lambda d: (bv.rv_close_to_close(d.close, 20),),
        lambda: sv.RV_CLOSE_TO_CLOSE(20),
        lambda ind, d, i: ind.update(d.close[i]),
    ),
    Case(
        "RV_PARKINSON",
        lambda d: (bv.rv_parkinson(d.high, d.low, 20),),
        lambda: sv.RV_PARKINSON(20),
        lambda ind, d, i: ind.update_bar(d.high[i], d.low[i]),
    ),
    Case(
        "RV_GARMAN_KLASS",
        lambda d: (bv.rv_garman_klass(d.open, d.high, d.low, d.close, 20),),
        lambda: sv.RV_GARMAN_KLASS(20),
        lambda ind, d, i: ind.update_bar(d.open[i], d.high[i], d.low[i], d.close[i]),
    ),
    Case(
        "ZSCORE",
        lambda d: (bv.zscore(d.close, 30),),
        lambda: sv.ZSCORE(30),
        lambda ind, d, i: ind.update(d.close[i]),
    ),
]
IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_stream_equals_batch(case: Case) -> None:
    check_stream_equals_batch(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_snapshot_restore_continues_identically(case: Case) -> None:
    check_snapshot_restore(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_no_lookahead(case: Case) -> None:
    check_no_lookahead(case.batch)


def test_restore_rejects_other_params() -> None:
    a = sv.BBANDS(20, 2.0)
    a.update(1.0)
    with pytest.raises(ValueError):
        sv.BBANDS(21, 2.0).restore(a.snapshot())


def test_bbands_stream_value_is_batch_tuple() -> None:
    ind = sv.BBANDS(5, 2.0)
    for x in DATA.close[:50]:
        ind.update(x)
    up, mid, lo = bv.bbands(DATA.close[:50], 5, 2.0)
    assert_allclose(ind.value, (up[-1], mid[-1], lo[-1]), rtol=RTOL)


def test_realized_volatility_of_a_flat_stretch_is_zero_not_a_domain_error() -> None:
    # A random walk then 40 unchanged closes (a quiet M1 market): the running mean of the
    # squared returns can round below zero; the streaming twins must give 0 like the batch.
    rng = np.random.default_rng(0)  # this walk's running mean ends at about -1e-20
    walk = 1.1 * np.exp(np.cumsum(rng.normal(0.0, 1e-2, 60)))
    close = np.concatenate([walk, np.full(40, walk[-1])])
    high, low = close * 1.0001, close * 0.9999
    high[60:], low[60:] = close[60:], close[60:]
    cc, park = sv.RV_CLOSE_TO_CLOSE(20), sv.RV_PARKINSON(20)
    streamed_cc = [cc.update(float(c)) for c in close]
    streamed_park = [park.update_bar(float(h), float(lo)) for h, lo in zip(high, low, strict=True)]

    assert streamed_cc[-1] == 0.0 and streamed_park[-1] == 0.0
    # Running sums leave a residue of ~1e-22 in the mean (1e-11 after the root) where the
    # batch's fresh window sums give exactly 0.
    assert_allclose(streamed_cc, bv.rv_close_to_close(close, 20), rtol=1e-9, atol=1e-10)
    assert_allclose(streamed_park, bv.rv_parkinson(high, low, 20), rtol=1e-9, atol=1e-10)
