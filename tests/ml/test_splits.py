"""Purged walk-forward splits: fold layout, the purge rule, and what it prevents (a leak)."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.core.market import BarSeries
from chainflow.features.api import get_feature_set
from chainflow.ml.training.datasets import build_dataset
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.splits import Fold, purged_walk_forward
from tests.fixtures.market_data import make_ohlcv

BAR_MS = 300_000
T0 = 1_700_000_000_000


def rows_with_horizon(n: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    ts = T0 + np.arange(n, dtype=np.int64) * BAR_MS
    return ts, ts + horizon * BAR_MS


def assert_purged(folds: list[Fold], ts: np.ndarray, label_end_ts: np.ndarray) -> None:
    for fold in folds:
        assert fold.train.size and fold.test.size
        assert label_end_ts[fold.train].max() < ts[fold.test].min()
        assert fold.train.max() < fold.test.min()
        assert (np.diff(fold.train) > 0).all() and (np.diff(fold.test) == 1).all()


def test_fold_layout_by_hand() -> None:
    ts, ends = rows_with_horizon(100, 5)
    folds = purged_walk_forward(ts, ends, n_folds=3, min_train_fraction=0.4)
    assert [f.index for f in folds] == [0, 1, 2]
    assert [(int(f.test[0]), int(f.test[-1])) for f in folds] == [(40, 59), (60, 79), (80, 99)]
    # rows i with i + 5 < start are kept: the last 5 rows before each test block are purged
    assert [(int(f.train[0]), int(f.train[-1])) for f in folds] == [(0, 34), (0, 54), (0, 74)]
    assert all(f.purged == 5 and f.embargoed == 0 for f in folds)
    assert_purged(folds, ts, ends)


def test_test_blocks_tile_the_rows_after_the_initial_training_part() -> None:
    ts, ends = rows_with_horizon(103, 2)
    folds = purged_walk_forward(ts, ends, n_folds=4, min_train_fraction=0.3)
    tested = np.concatenate([f.test for f in folds])
    np.testing.assert_array_equal(tested, np.arange(31, 103))  # ceil(0.3 * 103) = 31
    sizes = [f.test.size for f in folds]
    assert max(sizes) - min(sizes) <= 1
    # expanding window: each fold trains on at least what the previous one did
    for earlier, later in zip(folds, folds[1:], strict=False):
        assert np.isin(earlier.train, later.train).all()


def test_embargo_in_rows_and_as_a_fraction() -> None:
    ts, ends = rows_with_horizon(100, 5)
    fold = purged_walk_forward(ts, ends, n_folds=3, embargo=8)[0]
    assert int(fold.train[-1]) == 31 and fold.embargoed == 8 and fold.purged == 0
    fold = purged_walk_forward(ts, ends, n_folds=3, embargo=0.1)[0]
    assert int(fold.train[-1]) == 29 and fold.embargoed == 10
    fold = purged_walk_forward(ts, ends, n_folds=3, embargo=3)[0]
    assert int(fold.train[-1]) == 34  # an embargo shorter than the purge changes nothing


def test_variable_label_ends_purge_only_the_overlapping_rows() -> None:
    ts = T0 + np.arange(20, dtype=np.int64) * BAR_MS
    steps = np.array([1, 3, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    ends = ts + steps * BAR_MS  # e.g. triple-barrier labels touched early or late
    fold = purged_walk_forward(ts, ends, n_folds=1, min_train_fraction=0.5)[0]
    # test starts at row 10; row 8 ends at 10, row 9 at 10: purged; row 1 ends at 4: kept
    np.testing.assert_array_equal(fold.train, np.arange(8))
    assert fold.purged == 2


def test_tied_timestamps_of_pooled_symbols() -> None:
    ts = np.repeat(T0 + np.arange(50, dtype=np.int64) * BAR_MS, 2)  # two symbols per bar
    ends = ts + 3 * BAR_MS
    folds = purged_walk_forward(ts, ends, n_folds=3, min_train_fraction=0.41)
    assert_purged(folds, ts, ends)
    for fold in folds:
        assert ts[fold.train].max() < ts[fold.test].min()


def test_fold_describe() -> None:
    ts, ends = rows_with_horizon(100, 5)
    fold = purged_walk_forward(ts, ends, n_folds=3)[1]
    assert fold.describe(ts) == {
        "index": 1,
        "train_rows": 55,
        "test_rows": 20,
        "purged_rows": 5,
        "embargoed_rows": 0,
        "train_first_ts": int(ts[0]),
        "train_last_ts": int(ts[54]),
        "test_first_ts": int(ts[60]),
        "test_last_ts": int(ts[79]),
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_folds": 0}, "expected n_folds an int >= 1; received 0"),
        ({"min_train_fraction": 1.0}, "expected 0 < min_train_fraction < 1"),
        ({"min_train_fraction": 0.0}, "expected 0 < min_train_fraction < 1"),
        ({"embargo": -1}, "expected embargo rows >= 0; received -1"),
        ({"embargo": 1.5}, r"expected embargo an int >= 0 or a float in \[0, 1\)"),
        ({"embargo": True}, r"expected embargo an int >= 0 or a float in \[0, 1\)"),
    ],
)
def test_argument_errors(kwargs: dict, message: str) -> None:
    ts, ends = rows_with_horizon(100, 5)
    with pytest.raises(ValueError, match=message):
        purged_walk_forward(ts, ends, **kwargs)


def test_too_few_rows() -> None:
    ts, ends = rows_with_horizon(8, 1)
    with pytest.raises(ValueError, match="expected at least 9 rows for n_folds=5 and "):
        purged_walk_forward(ts, ends, n_folds=5, min_train_fraction=0.4)
    assert len(purged_walk_forward(*rows_with_horizon(9, 0), n_folds=5)) == 5


def test_purge_leaving_no_training_rows() -> None:
    ts, ends = rows_with_horizon(100, 50)
    with pytest.raises(ValueError, match="expected training rows before fold 0"):
        purged_walk_forward(ts, ends, n_folds=3)


def test_input_errors() -> None:
    ts, ends = rows_with_horizon(30, 2)
    with pytest.raises(ValueError, match="expected label_end_ts of length 30 like ts"):
        purged_walk_forward(ts, ends[:-1])
    with pytest.raises(ValueError, match="expected ts in time order"):
        purged_walk_forward(ts[::-1], ends[::-1])
    with pytest.raises(ValueError, match="expected label_end_ts >= ts"):
        purged_walk_forward(ts, ts - 1)
    with pytest.raises(ValueError, match="expected ts as integer epoch times"):
        purged_walk_forward(ts.astype(float), ends)
    with pytest.raises(ValueError, match="expected ts one-dimensional"):
        purged_walk_forward(ts.reshape(5, 6), ends)


def test_dataset_folds_are_purged() -> None:
    data = make_ohlcv(700, seed=11)
    bars = BarSeries.from_arrays(
        ts=data.ts_ms,
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        spread=np.full(data.close.size, 1e-4),
    )
    spec = LabelSpec(kind="triple_barrier", horizon=24, threshold_atr=1.0)
    ds = build_dataset(bars, get_feature_set("fx-core@1"), spec)
    folds = purged_walk_forward(ds.ts, ds.label_end_ts, n_folds=4)
    assert_purged(folds, ds.ts, ds.label_end_ts)
    assert all(0 < f.purged <= 24 for f in folds)


# --- the leak the purge prevents -------------------------------------------------------

HORIZON = 24


def future_labelled_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random walk whose label is a function of the future: up (2) when
    ``close[t + HORIZON] > close[t]``, else down (0); known at ``t + HORIZON``."""
    close = np.cumsum(np.random.default_rng(seed).standard_normal(n + HORIZON))
    ts = T0 + np.arange(n + HORIZON, dtype=np.int64) * BAR_MS
    y = np.where(close[HORIZON:] > close[:n], 2, 0)
    return ts[:n], ts[HORIZON:], y


def naive_split(folds: list[Fold]) -> list[Fold]:
    """The same test blocks, training on every earlier row (no purge)."""
    return [Fold(np.arange(f.test[0]), f.test, f.index) for f in folds]


def test_leak_without_purge_none_with_purge() -> None:
    ts, ends, _ = future_labelled_rows(1200, seed=3)
    purged = purged_walk_forward(ts, ends, n_folds=6)
    for fold in naive_split(purged):
        test_start = ts[fold.test].min()
        overlapping = fold.train[ends[fold.train] >= test_start]
        assert overlapping.size == HORIZON  # these labels use test-period prices
    for fold in purged:
        assert ends[fold.train].max() < ts[fold.test].min()


def nearest_in_time_accuracy(folds: list[Fold], y: np.ndarray) -> float:
    """A model-free oracle: each fold's first test row takes the label of the training row
    nearest in time (the last one), as a nearest-neighbour model on time-smooth features."""
    hits = [y[f.train[-1]] == y[f.test[0]] for f in folds]
    return float(np.mean(hits))


def test_nearest_in_time_oracle_scores_high_only_without_purge() -> None:
    ts, ends, y = future_labelled_rows(4000, seed=17)
    purged = purged_walk_forward(ts, ends, n_folds=120, min_train_fraction=0.1)
    naive_accuracy = nearest_in_time_accuracy(naive_split(purged), y)
    purged_accuracy = nearest_in_time_accuracy(purged, y)
    # neighbouring labels share 23 of 24 future increments: P(equal) ~ 0.91 leaked;
    # purged, the label windows are disjoint and the oracle is a coin flip (~0.5)
    assert naive_accuracy > 0.8  # 0.89 with this seed
    assert purged_accuracy < 0.65  # 0.51 with this seed
    assert 0.4 < np.mean(y == 2) < 0.6  # balanced classes: 0.5 is chance
