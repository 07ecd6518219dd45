"""OBV and session VWAP: batch == TA-Lib / reference, streaming == batch, restore, lookahead."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import talib

from chainflow.features.batch import volume as bw
from chainflow.features.stream import volume as sw
from tests.fixtures.indicator_checks import (
    DATA,
    Case,
    assert_same_series,
    check_no_lookahead,
    check_snapshot_restore,
    check_stream_equals_batch,
)


def test_obv_matches_talib() -> None:
    assert_same_series(bw.obv(DATA.close, DATA.volume), talib.OBV(DATA.close, DATA.volume))
    assert (np.diff(DATA.close) == 0).any()  # the "unchanged close" branch is exercised


def _ref_vwap(session_hour: int) -> list[float]:
    out, key, pv, v = [], None, 0.0, 0.0
    for i in range(len(DATA.close)):
        t = datetime.fromtimestamp(int(DATA.ts_ms[i]) / 1000, tz=UTC)
        session = (t - timedelta(hours=session_hour)).date()
        if session != key:
            key, pv, v = session, 0.0, 0.0
        tp = (DATA.high[i] + DATA.low[i] + DATA.close[i]) / 3
        pv += tp * DATA.volume[i]
        v += DATA.volume[i]
        out.append(pv / v if v > 0 else math.nan)
    return out


@pytest.mark.parametrize("hour", [0, 7, 22])
def test_vwap_matches_reference(hour: int) -> None:
    ours = bw.vwap(DATA.high, DATA.low, DATA.close, DATA.volume, DATA.ts_ms, hour)
    assert_same_series(ours, _ref_vwap(hour))
    days = {(int(t) // 1000 - hour * 3600) // 86400 for t in DATA.ts_ms}
    assert len(days) >= 5


def test_vwap_resets_at_session_start() -> None:
    hour = 7
    vw = bw.vwap(DATA.high, DATA.low, DATA.close, DATA.volume, DATA.ts_ms, hour)
    sessions = (DATA.ts_ms - hour * 3_600_000) // 86_400_000
    for i in np.flatnonzero(np.diff(sessions)) + 1:
        tp = (DATA.high[i] + DATA.low[i] + DATA.close[i]) / 3
        assert vw[i] == pytest.approx(tp, rel=1e-12)


def test_vwap_zero_volume_is_nan_and_bad_hour() -> None:
    v = DATA.volume.copy()
    v[:3] = 0.0
    out = bw.vwap(DATA.high, DATA.low, DATA.close, v, DATA.ts_ms)
    assert np.isnan(out[:3]).all() and not np.isnan(out[3])
    with pytest.raises(ValueError):
        bw.vwap(DATA.high, DATA.low, DATA.close, v, DATA.ts_ms, 24)
    with pytest.raises(ValueError):
        sw.VWAP(-1)


CASES = [
    Case(
        "OBV",
        lambda d: (bw.obv(d.close, d.volume),),
        sw.OBV,
        lambda ind, d, i: ind.update_bar(d.close[i], d.volume[i]),
    ),
    Case(
        "VWAP",
        lambda d: (bw.vwap(d.high, d.low, d.close, d.volume, d.ts_ms, 22),),
        lambda: sw.VWAP(22),
        lambda ind, d, i: ind.update_bar(
            d.high[i], d.low[i], d.close[i], d.volume[i], int(d.ts_ms[i])
        ),
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
