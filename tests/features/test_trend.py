"""ADX / +DI / -DI: batch == TA-Lib, streaming == batch, snapshot/restore, no lookahead."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from chainflow.features.batch import trend as bt
from chainflow.features.stream import trend as st
from tests.fixtures.indicator_checks import (
    DATA,
    Case,
    assert_same_series,
    check_no_lookahead,
    check_snapshot_restore,
    check_stream_equals_batch,
)


@pytest.mark.parametrize("n", [2, 5, 14, 20, 50])
@pytest.mark.parametrize(
    ("ours", "ref"),
    [(bt.adx, talib.ADX), (bt.plus_di, talib.PLUS_DI), (bt.minus_di, talib.MINUS_DI)],
    ids=["ADX", "PLUS_DI", "MINUS_DI"],
)
def test_matches_talib(ours, ref, n: int) -> None:
    assert_same_series(
        ours(DATA.high, DATA.low, DATA.close, n),
        ref(DATA.high, DATA.low, DATA.close, timeperiod=n),
    )


@pytest.mark.parametrize("flat", [slice(0, 40), slice(100, 1400)], ids=["start", "middle"])
def test_flat_bars_match_talib(flat: slice) -> None:
    """Zero true ranges: exact-zero branches (flat start) and a decaying smoothed TR."""
    h, lo, c = (x.copy() for x in (DATA.high, DATA.low, DATA.close))
    h[flat] = lo[flat] = c[flat] = c[flat.start]
    refs = ((bt.adx, talib.ADX), (bt.plus_di, talib.PLUS_DI), (bt.minus_di, talib.MINUS_DI))
    for ours, ref in refs:
        expected = ref(h, lo, c, timeperiod=5)
        out = ours(h, lo, c, 5)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
        np.testing.assert_allclose(out, expected, rtol=1e-9)
    ind = st.ADX(5)
    streamed = [ind.update_bar(h[i], lo[i], c[i]) for i in range(len(c))]
    np.testing.assert_array_equal(streamed, bt.adx(h, lo, c, 5))


def test_short_input_and_bad_period() -> None:
    assert np.isnan(bt.adx(DATA.high[:10], DATA.low[:10], DATA.close[:10], 14)).all()
    with pytest.raises(ValueError):
        bt.adx(DATA.high, DATA.low, DATA.close, 1)
    with pytest.raises(ValueError):
        st.ADX(1)


def _hlc(ind, d, i):
    return ind.update_bar(d.high[i], d.low[i], d.close[i])


CASES = [
    Case(
        "ADX",
        lambda d: tuple(f(d.high, d.low, d.close, 14) for f in (bt.adx, bt.plus_di, bt.minus_di)),
        lambda: st.ADX(14),
        _hlc,
        lambda ind: (ind.adx, ind.plus_di, ind.minus_di),
    ),
    Case(
        "PLUS_DI", lambda d: (bt.plus_di(d.high, d.low, d.close, 9),), lambda: st.PLUS_DI(9), _hlc
    ),
    Case(
        "MINUS_DI",
        lambda d: (bt.minus_di(d.high, d.low, d.close, 9),),
        lambda: st.MINUS_DI(9),
        _hlc,
    ),
]
IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_stream_equals_batch(case: Case) -> None:
    check_stream_equals_batch(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_snapshot_restore_continues_identically(case: Case) -> None:
    check_snapshot_restore(case, cuts=(0, 5, 20, 1501))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_no_lookahead(case: Case) -> None:
    check_no_lookahead(case.batch)


def test_restore_rejects_other_params() -> None:
    with pytest.raises(ValueError):
        st.ADX(15).restore(st.ADX(14).snapshot())
