"""Labels, targets and datasets: hand-computed labels on tiny series, lookahead, windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chainflow.core.market import BarSeries
from chainflow.features.api import feature_matrix, get_feature_set
from chainflow.features.batch.volatility import atr as wilder_atr
from chainflow.ml.training.datasets import Dataset, build_dataset
from chainflow.ml.training.labels import (
    CLASS_NAMES,
    DOWN,
    FLAT,
    UNUSABLE,
    UP,
    LabelSpec,
    compute_labels,
    direction_labels,
    forward_momentum,
    forward_volatility,
    past_volatility,
    previous_direction,
    triple_barrier_labels,
)
from tests.fixtures.market_data import OHLCV, make_ohlcv

BAR_MS = 300_000
FEATURE_SET = get_feature_set("fx-core@1")


def bars_of(data: OHLCV, seed: int = 1) -> BarSeries:
    spread = np.random.default_rng(seed).uniform(0.8e-4, 1.5e-4, data.close.size)
    return BarSeries.from_arrays(
        ts=data.ts_ms,
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        spread=spread,
    )


@pytest.fixture(scope="module")
def market() -> OHLCV:
    return make_ohlcv(900, seed=5)


@pytest.fixture(scope="module")
def dataset(market: OHLCV) -> Dataset:
    return build_dataset(bars_of(market), FEATURE_SET, LabelSpec(), symbol="EURUSD", timeframe="M5")


# --- labels on hand-made series ---------------------------------------------------------


def test_class_encoding() -> None:
    assert (DOWN, FLAT, UP, UNUSABLE) == (0, 1, 2, -1)
    assert CLASS_NAMES == ("down", "flat", "up")


def test_direction_labels_by_hand() -> None:
    close = np.array([100.0, 101.0, 99.0, 100.0, 100.2])
    atr = np.ones(5)
    # band = 0.5 * 1 / close: ~0.005; returns +0.00995, -0.0200, +0.01005, +0.0020
    assert direction_labels(close, atr, 1, 0.5).tolist() == [UP, DOWN, UP, FLAT, UNUSABLE]
    # horizon 2: log(99/100) < -0.005, log(100/101) < -0.00495, log(100.2/99) > 0.00505
    assert direction_labels(close, atr, 2, 0.5).tolist() == [DOWN, DOWN, UP, -1, -1]


def test_direction_labels_unusable_without_atr_and_zero_threshold() -> None:
    close = np.array([100.0, 101.0, 101.0, 100.0])
    atr = np.array([np.nan, 1.0, 1.0, 1.0])
    assert direction_labels(close, atr, 1, 0.5).tolist() == [UNUSABLE, FLAT, DOWN, UNUSABLE]
    # a zero threshold: any move is a direction, an unchanged close is flat
    assert direction_labels(close, np.ones(4), 1, 0.0).tolist() == [UP, FLAT, DOWN, UNUSABLE]
    assert direction_labels(close[:1], np.ones(1), 3, 0.5).tolist() == [UNUSABLE]


def triple_barrier_case(highs: list[float], lows: list[float]) -> tuple[int, int]:
    """Row 0 of a series with close 100 and ATR 2 at bar 0 (barriers 101 / 99, thr 0.5)."""
    high = np.array([100.0, *highs])
    low = np.array([100.0, *lows])
    close = (high + low) / 2
    close[0] = 100.0
    label, end = triple_barrier_labels(high, low, close, np.full(high.size, 2.0), len(highs), 0.5)
    return int(label[0]), int(end[0])


def test_triple_barrier_touch_order() -> None:
    # upper touched at bar 2 (high 101.2), lower only later at bar 3
    assert triple_barrier_case([100.5, 101.2, 100.0], [99.5, 99.8, 98.0]) == (UP, 2)
    # lower touched first at bar 1, upper later at bar 3
    assert triple_barrier_case([100.5, 100.5, 102.0], [98.9, 99.5, 99.5]) == (DOWN, 1)
    # a touch is reached with equality (high == 101.0)
    assert triple_barrier_case([101.0, 100.0, 100.0], [99.5, 99.5, 99.5]) == (UP, 1)


def test_triple_barrier_no_touch_is_flat_at_the_horizon_end() -> None:
    assert triple_barrier_case([100.9, 100.5, 100.2], [99.1, 99.5, 99.8]) == (FLAT, 3)


def test_triple_barrier_both_barriers_in_one_bar_is_flat_at_that_bar() -> None:
    assert triple_barrier_case([100.5, 101.5, 103.0], [99.5, 98.5, 99.5]) == (FLAT, 2)


def test_triple_barrier_unusable_rows() -> None:
    n, h = 8, 3
    close = np.linspace(100.0, 101.0, n)
    atr = np.full(n, 0.2)
    atr[0] = np.nan
    label, end = triple_barrier_labels(close + 0.05, close - 0.05, close, atr, h, 0.5)
    assert label[0] == UNUSABLE and end[0] == UNUSABLE
    assert (label[n - h :] == UNUSABLE).all() and (end[n - h :] == UNUSABLE).all()
    assert (label[1 : n - h] != UNUSABLE).all()
    assert (
        (end[1 : n - h] > np.arange(1, n - h)) & (end[1 : n - h] <= np.arange(1, n - h) + h)
    ).all()


def test_forward_and_past_volatility_by_hand() -> None:
    close = np.exp(np.array([0.0, 0.1, 0.3, 0.0]))  # log returns 0.1, 0.2, -0.3
    fv = forward_volatility(close, 2)
    assert fv[0] == pytest.approx(math.sqrt((0.01 + 0.04) / 2))
    assert fv[1] == pytest.approx(math.sqrt((0.04 + 0.09) / 2))
    assert np.isnan(fv[2:]).all()
    pv = past_volatility(close, 2)
    assert np.isnan(pv[:2]).all()
    assert pv[2] == pytest.approx(math.sqrt((0.01 + 0.04) / 2))
    assert pv[3] == pytest.approx(math.sqrt((0.04 + 0.09) / 2))


def test_forward_momentum_in_atr_units() -> None:
    close = np.array([100.0, 102.0, 101.0, 101.0])
    atr = np.array([2.0, 2.0, 0.0, 1.0])
    fm = forward_momentum(close, atr, 1)
    assert fm[0] == pytest.approx(math.log(1.02) / 0.02)
    assert fm[1] == pytest.approx(math.log(101 / 102) / (2 / 102))
    assert np.isnan(fm[2]) and np.isnan(fm[3])  # zero ATR; no horizon


def test_previous_direction() -> None:
    assert previous_direction([1.0, 2.0, 2.0, 1.0]).tolist() == [UNUSABLE, UP, FLAT, DOWN]


def test_compute_labels_direction_ends_at_the_horizon(market: OHLCV) -> None:
    spec = LabelSpec(horizon=6, threshold_atr=0.3, atr_period=10)
    labels = compute_labels(spec, high=market.high, low=market.low, close=market.close)
    atr = wilder_atr(market.high, market.low, market.close, 10)
    np.testing.assert_array_equal(labels.atr, atr)
    np.testing.assert_array_equal(labels.label, direction_labels(market.close, atr, 6, 0.3))
    usable = np.flatnonzero(labels.label != UNUSABLE)
    np.testing.assert_array_equal(labels.label_end[usable], usable + 6)
    assert (labels.label_end[labels.label == UNUSABLE] == UNUSABLE).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "sign"}, "expected kind among"),
        ({"horizon": 0}, "expected a horizon"),
        ({"atr_period": 0}, "expected atr_period"),
        ({"threshold_atr": -0.1}, "expected a finite threshold_atr >= 0"),
        ({"kind": "triple_barrier", "threshold_atr": 0.0}, "expected threshold_atr > 0"),
    ],
)
def test_label_spec_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LabelSpec(**kwargs)


def test_label_spec_to_dict() -> None:
    assert LabelSpec(kind="triple_barrier", horizon=24).to_dict() == {
        "kind": "triple_barrier",
        "horizon": 24,
        "threshold_atr": 0.5,
        "atr_period": 14,
    }


# --- bars -----------------------------------------------------------------------------


def test_bars_copy_read_only_and_default_spread(market: OHLCV) -> None:
    bars = BarSeries.from_arrays(
        ts=market.ts_ms,
        open=market.open,
        high=market.high,
        low=market.low,
        close=market.close,
        volume=market.volume,
    )
    assert len(bars) == market.close.size
    assert bars.ts.dtype == np.int64 and bars.close.dtype == np.float64
    assert np.isnan(bars.spread).all()
    assert not bars.close.flags.writeable
    assert bars.close is not market.close and market.close.flags.writeable


def test_bars_validation() -> None:
    ones = np.ones(3)
    fields = {"open": ones, "high": ones, "low": ones, "close": ones, "volume": ones}
    with pytest.raises(ValueError, match=r"expected high of shape \(3,\) like ts; received \(2,\)"):
        BarSeries.from_arrays(ts=[1, 2, 3], **{**fields, "high": np.ones(2)})
    with pytest.raises(ValueError, match="expected strictly increasing ts"):
        BarSeries.from_arrays(ts=[1, 3, 3], **fields)
    with pytest.raises(ValueError, match="expected ts one-dimensional"):
        BarSeries.from_arrays(ts=[[1, 2, 3]], **fields)


# --- datasets -------------------------------------------------------------------------


def test_dataset_rows_features_and_labels(market: OHLCV, dataset: Dataset) -> None:
    n, h = market.close.size, dataset.label_spec.horizon
    bars = bars_of(market)
    assert dataset.X.shape == (len(dataset), 33) and dataset.X.dtype == np.float64
    assert np.isfinite(dataset.X).all()
    assert set(np.unique(dataset.y)) <= {DOWN, FLAT, UP} and dataset.y.dtype == np.int64
    assert (np.diff(dataset.ts) > 0).all()
    # warm-up rows at the start and the last horizon rows are dropped, nothing else here
    assert dataset.bar_index[0] == FEATURE_SET.warmup_bars - 1
    assert dataset.bar_index[-1] == n - h - 1
    assert len(dataset) == n - h - FEATURE_SET.warmup_bars + 1
    np.testing.assert_array_equal(dataset.label_end_ts, dataset.ts + h * BAR_MS)
    full = feature_matrix(FEATURE_SET, bars)
    np.testing.assert_array_equal(dataset.X, full[dataset.bar_index])
    atr = wilder_atr(market.high, market.low, market.close, 14)
    np.testing.assert_array_equal(
        dataset.y, direction_labels(market.close, atr, h, 0.5)[dataset.bar_index]
    )
    np.testing.assert_array_equal(dataset.close, market.close[dataset.bar_index])
    assert np.isfinite(dataset.forward_volatility).all()
    assert np.isfinite(dataset.forward_momentum).all()
    assert np.isfinite(dataset.past_volatility).all()
    assert set(np.unique(dataset.previous_direction)) <= {DOWN, FLAT, UP}


def test_dataset_provenance_and_describe(dataset: Dataset) -> None:
    assert dataset.feature_names == FEATURE_SET.names
    assert dataset.feature_set == "fx-core@1"
    assert dataset.fingerprint == FEATURE_SET.fingerprint
    counts = dataset.class_counts()
    assert list(counts) == list(CLASS_NAMES) and sum(counts.values()) == len(dataset)
    summary = dataset.describe()
    assert summary["rows"] == len(dataset)
    assert summary["first_ts"] == int(dataset.ts[0]) and summary["last_ts"] == int(dataset.ts[-1])
    assert summary["class_counts"] == counts
    assert sum(summary["class_share"].values()) == pytest.approx(1.0)
    assert summary["symbol"] == "EURUSD" and summary["timeframe"] == "M5"
    assert summary["label_spec"] == LabelSpec().to_dict()


def test_triple_barrier_dataset_labels_end_within_the_horizon(market: OHLCV) -> None:
    spec = LabelSpec(kind="triple_barrier", horizon=12, threshold_atr=1.0)
    ds = build_dataset(bars_of(market), FEATURE_SET, spec)
    steps = (ds.label_end_ts - ds.ts) // BAR_MS
    assert (steps >= 1).all() and (steps <= 12).all()
    assert (steps < 12).any()  # some barrier is touched before the horizon end
    assert set(np.unique(ds.y)) == {DOWN, FLAT, UP}


def test_unknown_spread_leaves_no_row(market: OHLCV) -> None:
    bars = BarSeries.from_arrays(
        ts=market.ts_ms,
        open=market.open,
        high=market.high,
        low=market.low,
        close=market.close,
        volume=market.volume,
    )
    with pytest.raises(ValueError, match=r"received none of 900 bars.*rel_spread_bps"):
        build_dataset(bars, FEATURE_SET, LabelSpec())


@pytest.mark.parametrize("kind", ["direction", "triple_barrier"])
def test_no_lookahead(market: OHLCV, kind: str) -> None:
    """Bars after t changed: features of rows at or before t and labels known by t stay."""
    t = 600
    spec = LabelSpec(kind=kind, horizon=12)
    before = build_dataset(bars_of(market), FEATURE_SET, spec)
    after = build_dataset(bars_of(market.perturbed_after(t)), FEATURE_SET, spec)
    np.testing.assert_array_equal(before.bar_index, after.bar_index)
    cut_ts = market.ts_ms[t]
    past = before.ts <= cut_ts
    np.testing.assert_array_equal(before.X[past], after.X[past])
    np.testing.assert_array_equal(before.past_volatility[past], after.past_volatility[past])
    known = before.label_end_ts <= cut_ts
    assert known.sum() > 300
    np.testing.assert_array_equal(before.y[known], after.y[known])
    if kind == "direction":
        np.testing.assert_array_equal(
            before.forward_volatility[known], after.forward_volatility[known]
        )
    assert not np.array_equal(before.X[~past], after.X[~past])  # the perturbation shows


def test_window_tensor(dataset: Dataset) -> None:
    windows, rows = dataset.window_tensor(5)
    assert windows.shape == (len(dataset) - 4, 5, 33)
    np.testing.assert_array_equal(rows, np.arange(4, len(dataset)))
    for j in (0, 7, len(rows) - 1):
        np.testing.assert_array_equal(windows[j], dataset.X[rows[j] - 4 : rows[j] + 1])
    single, single_rows = dataset.window_tensor(1)
    np.testing.assert_array_equal(single[:, 0, :], dataset.X)
    assert single_rows.size == len(dataset)


def test_window_tensor_skips_windows_across_a_dropped_bar(dataset: Dataset) -> None:
    kept = np.delete(np.arange(len(dataset)), 20)  # bar of row 20 missing
    gappy = dataset.subset(kept)
    windows, rows = gappy.window_tensor(3)
    # rows 20 and 21 of the subset would span the gap
    assert 20 not in rows and 21 not in rows and 19 in rows and 22 in rows
    assert windows.shape == (len(gappy) - 2 - 2, 3, 33)
    ends = gappy.bar_index[rows]
    starts = gappy.bar_index[rows - 2]
    assert (ends - starts == 2).all()
    with pytest.raises(ValueError, match="expected window an int >= 1"):
        dataset.window_tensor(0)
    short, short_rows = dataset.subset(np.arange(2)).window_tensor(3)
    assert short.shape == (0, 3, 33) and short_rows.size == 0


def test_subset_keeps_provenance(dataset: Dataset) -> None:
    part = dataset.subset(np.arange(10, 20))
    assert len(part) == 10 and part.fingerprint == dataset.fingerprint
    np.testing.assert_array_equal(part.ts, dataset.ts[10:20])
    with pytest.raises(ValueError, match="expected increasing row indices"):
        dataset.subset([3, 1])
