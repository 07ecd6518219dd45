"""Out-of-sample metrics against scikit-learn and by hand; probabilistic baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss, roc_auc_score

from chainflow.core.market import BarSeries
from chainflow.features.api import get_feature_set
from chainflow.ml.training.datasets import build_dataset
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.metrics import (
    classification_metrics,
    majority_baseline,
    previous_direction_baseline,
    regression_metrics,
    regression_skill,
)
from chainflow.ml.training.splits import purged_walk_forward
from tests.fixtures.market_data import make_ohlcv


def random_case(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    proba = rng.dirichlet(np.ones(3), n)
    return y, proba


def test_classification_metrics_match_sklearn() -> None:
    y, proba = random_case(400, seed=4)
    got = classification_metrics(y, proba)
    predicted = proba.argmax(axis=1)
    assert got["rows"] == 400
    assert got["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, predicted))
    assert got["log_loss"] == pytest.approx(log_loss(y, proba, labels=[0, 1, 2]))
    expected_auc = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=[0, 1, 2])
    assert got["auc"] == pytest.approx(expected_auc)
    brier = np.mean([sum((proba[i, c] - (y[i] == c)) ** 2 for c in range(3)) for i in range(400)])
    assert got["brier"] == pytest.approx(brier)


def test_classification_metrics_by_hand() -> None:
    y = np.array([0, 1, 2, 2])
    proba = np.array(
        [
            [0.7, 0.2, 0.1],  # right
            [0.1, 0.6, 0.3],  # right
            [0.2, 0.2, 0.6],  # right
            [0.5, 0.3, 0.2],  # wrong (down for up)
        ]
    )
    got = classification_metrics(y, proba)
    assert got["accuracy"] == pytest.approx(0.75)
    assert got["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    expected_loss = -(math.log(0.7) + math.log(0.6) + math.log(0.6) + math.log(0.2)) / 4
    assert got["log_loss"] == pytest.approx(expected_loss)
    rows = [
        0.3**2 + 0.2**2 + 0.1**2,
        0.1**2 + 0.4**2 + 0.3**2,
        0.2**2 + 0.2**2 + 0.4**2,
        0.5**2 + 0.3**2 + 0.8**2,
    ]
    assert got["brier"] == pytest.approx(sum(rows) / 4)


def test_perfect_and_certain_wrong_predictions() -> None:
    y = np.array([0, 1, 2, 1])
    perfect = classification_metrics(y, np.eye(3)[y])
    assert perfect["accuracy"] == 1.0 and perfect["brier"] == 0.0 and perfect["auc"] == 1.0
    assert perfect["log_loss"] < 1e-12
    wrong = classification_metrics(y, np.eye(3)[(y + 1) % 3])
    assert wrong["brier"] == pytest.approx(2.0)
    # zero probability on the true class: clipped at 1e-15, so finite
    assert wrong["log_loss"] == pytest.approx(-math.log(1e-15), rel=1e-6)


def test_auc_is_nan_when_a_class_is_absent() -> None:
    y = np.array([0, 2, 2, 0])
    got = classification_metrics(y, np.full((4, 3), 1 / 3))
    assert math.isnan(got["auc"])
    assert got["accuracy"] == pytest.approx(0.5)  # argmax of a tie is class 0
    assert math.isfinite(got["log_loss"]) and math.isfinite(got["balanced_accuracy"])


@pytest.mark.parametrize(
    ("y", "proba", "message"),
    [
        ([0, 1], np.full((3, 3), 1 / 3), r"expected proba of shape \(2, 3\); received \(3, 3\)"),
        ([0, 1], np.full((2, 2), 0.5), r"expected proba of shape \(2, 3\)"),
        ([0, 3], np.full((2, 3), 1 / 3), r"expected y_true among \[0, 1, 2\].*received 3 at row 1"),
        ([0.0, 1.0], np.full((2, 3), 1 / 3), "expected y_true as integer classes"),
        ([0, 1], [[0.5, 0.5, 0.5], [0.2, 0.3, 0.5]], "expected proba rows summing to 1"),
        ([0, 1], [[np.nan, 0.5, 0.5], [0.2, 0.3, 0.5]], "expected proba finite and >= 0"),
        ([], np.empty((0, 3)), "expected at least one row to score"),
    ],
)
def test_classification_metrics_errors(y: list, proba: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.asarray(y), proba)


def test_majority_baseline() -> None:
    y_train = np.array([2, 2, 2, 0, 1, 2, 0])
    proba = majority_baseline(y_train, 5)
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[0], [2 / 7, 1 / 7, 4 / 7])
    # on its own training labels the accuracy is the majority share
    on_train = classification_metrics(y_train, majority_baseline(y_train, y_train.size))
    assert on_train["accuracy"] == pytest.approx(4 / 7)
    y_test = np.array([0, 2, 1, 2, 0, 0])
    on_test = classification_metrics(y_test, majority_baseline(y_train, y_test.size))
    assert on_test["accuracy"] == pytest.approx(np.mean(y_test == 2))
    assert on_test["balanced_accuracy"] == pytest.approx(1 / 3)
    assert majority_baseline(y_train, 0).shape == (0, 3)


def test_majority_baseline_log_loss_is_finite_with_a_class_missing_in_train() -> None:
    proba = majority_baseline(np.array([0, 0, 2]), 3)
    got = classification_metrics(np.array([1, 0, 2]), proba)
    assert math.isfinite(got["log_loss"])


def test_majority_baseline_errors() -> None:
    with pytest.raises(ValueError, match="expected at least one training label"):
        majority_baseline(np.array([], dtype=np.int64), 3)
    with pytest.raises(ValueError, match="expected n_test an int >= 0; received -1"):
        majority_baseline(np.array([0, 1]), -1)


def test_previous_direction_baseline_by_hand() -> None:
    prev_train = np.array([0, 0, 2, 2, 2, 1])
    y_train = np.array([0, 2, 2, 2, 0, 1])
    proba = previous_direction_baseline(np.array([2, 0, 1]), y_train, prev_train)
    # Laplace: counts + 1 per (previous direction, class)
    np.testing.assert_allclose(proba[0], np.array([2, 1, 3]) / 6)  # after up
    np.testing.assert_allclose(proba[1], np.array([2, 1, 2]) / 5)  # after down
    np.testing.assert_allclose(proba[2], np.array([1, 2, 1]) / 4)  # after flat
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    sharp = previous_direction_baseline(np.array([2]), y_train, prev_train, smoothing=1e-9)
    np.testing.assert_allclose(sharp[0], [1 / 3, 0, 2 / 3], atol=1e-8)


def test_previous_direction_baseline_learns_persistence() -> None:
    rng = np.random.default_rng(8)
    prev = rng.integers(0, 3, 3000)
    y = np.where(rng.random(3000) < 0.7, prev, rng.integers(0, 3, 3000))
    proba = previous_direction_baseline(prev[2000:], y[:2000], prev[:2000])
    model = classification_metrics(y[2000:], proba)
    majority = classification_metrics(y[2000:], majority_baseline(y[:2000], 1000))
    assert model["accuracy"] > 0.7 and model["log_loss"] < majority["log_loss"]


def test_previous_direction_baseline_errors() -> None:
    with pytest.raises(ValueError, match="expected prev_direction_train of length 3 like y_train"):
        previous_direction_baseline(np.array([0]), np.array([0, 1, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="expected smoothing > 0"):
        previous_direction_baseline(np.array([0]), np.array([0]), np.array([0]), smoothing=0.0)
    with pytest.raises(ValueError, match=r"expected prev_direction_test among .* received -1"):
        previous_direction_baseline(np.array([-1]), np.array([0]), np.array([0]))


def test_regression_metrics_by_hand() -> None:
    got = regression_metrics([1.0, 2.0, 3.0, np.nan], [1.0, 3.0, 5.0, 2.0])
    assert got == {"rows": 3.0, "mae": pytest.approx(1.0), "rmse": pytest.approx(math.sqrt(5 / 3))}
    empty = regression_metrics([np.nan], [1.0])
    assert empty["rows"] == 0.0 and math.isnan(empty["mae"]) and math.isnan(empty["rmse"])
    with pytest.raises(ValueError, match="expected y_true and y_pred one-dimensional"):
        regression_metrics([1.0, 2.0], [1.0])


def test_regression_skill_against_a_naive_forecast() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    model = np.array([1.0, 2.0, 3.0, 5.0])  # mse 0.25
    naive = np.array([2.0, 3.0, 4.0, 5.0])  # mse 1.0
    got = regression_skill(truth, model, naive)
    assert got["skill"] == pytest.approx(0.75)
    assert got["rmse"] == pytest.approx(0.5) and got["baseline_rmse"] == pytest.approx(1.0)
    assert got["baseline_mae"] == pytest.approx(1.0) and got["rows"] == 4.0
    # rows where the naive forecast is unknown are left out of both
    partial = regression_skill(truth, model, np.array([np.nan, 3.0, 4.0, 5.0]))
    assert partial["rows"] == 3.0 and partial["skill"] == pytest.approx(1 - (1 / 3) / 1.0)
    assert math.isnan(regression_skill(truth, truth, truth)["skill"])  # a perfect baseline
    with pytest.raises(ValueError, match="expected y_true, y_pred and y_baseline"):
        regression_skill(truth, model, naive[:2])


def test_baselines_out_of_sample_on_purged_folds() -> None:
    """The evaluation loop a model plugs into: baselines scored on each purged fold."""
    data = make_ohlcv(800, seed=21)
    bars = BarSeries.from_arrays(
        ts=data.ts_ms,
        open=data.open,
        high=data.high,
        low=data.low,
        close=data.close,
        volume=data.volume,
        spread=np.full(data.close.size, 1e-4),
    )
    ds = build_dataset(bars, get_feature_set("fx-core@1"), LabelSpec(horizon=12))
    for fold in purged_walk_forward(ds.ts, ds.label_end_ts, n_folds=3):
        y_train, y_test = ds.y[fold.train], ds.y[fold.test]
        majority = majority_baseline(y_train, y_test.size)
        previous = previous_direction_baseline(
            ds.previous_direction[fold.test], y_train, ds.previous_direction[fold.train]
        )
        for proba in (majority, previous):
            scores = classification_metrics(y_test, proba)
            assert 0.0 <= scores["accuracy"] <= 1.0 and math.isfinite(scores["log_loss"])
        volatility = regression_skill(
            ds.forward_volatility[fold.test],
            ds.past_volatility[fold.test],
            np.full(fold.test.size, ds.forward_volatility[fold.train].mean()),
        )
        assert volatility["rows"] == fold.test.size and math.isfinite(volatility["skill"])
