"""The training verdict on out-of-sample rows whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.ml.training.metrics import classification_metrics, log_loss_rows, majority_baseline
from chainflow.ml.training.verdict import RegressionTarget, p_text, training_verdict

ROWS = 3000
HORIZON = 6


def regime_classes(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes drawn from probabilities that persist over runs of rows (as a regime does):
    the true probabilities are a model that truly knows something."""
    rng = np.random.default_rng(seed)
    states = np.repeat(rng.integers(0, 3, ROWS // 20 + 1), 20)[:ROWS]
    table = np.array([[0.6, 0.25, 0.15], [0.2, 0.6, 0.2], [0.15, 0.25, 0.6]])
    proba = table[states]
    y = (rng.random(ROWS)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    return y.astype(np.int64), proba


def previous_like(y: np.ndarray) -> np.ndarray:
    """A baseline that knows the class frequencies only, slightly smoothed."""
    frequencies = (np.bincount(y, minlength=3) + 5) / (len(y) + 15)
    return np.tile(frequencies, (len(y), 1))


def no_regressors() -> dict[str, RegressionTarget]:
    return {}


class TestLogLossRows:
    def test_mean_is_the_reported_log_loss(self) -> None:
        y, proba = regime_classes(1)
        assert log_loss_rows(y, proba).mean() == pytest.approx(
            classification_metrics(y, proba)["log_loss"], rel=1e-12
        )


class TestDirection:
    def test_a_model_that_knows_beats_both_baselines(self) -> None:
        y, proba = regime_classes(2)
        baselines = {
            "majority": majority_baseline(y, len(y)),
            "previous_direction": previous_like(y),
        }
        verdict = training_verdict(y, proba, baselines, no_regressors(), horizon=HORIZON, seed=3)
        assert verdict.passed
        assert verdict.sentence == "beats both baselines (p<0.001)"
        data = verdict.to_dict()
        for comparison in data["targets"]["direction"]["comparisons"]:
            assert comparison["improvement"] > 0 and comparison["low"] > 0
            assert comparison["beats"] and comparison["p_value"] < 0.01
            gap = comparison["baseline_value"] - comparison["model"]
            assert comparison["improvement"] == pytest.approx(gap, rel=1e-9)
        assert data["block"] == 15  # ceil(3000 ** (1/3)) > horizon 6

    def test_the_baseline_itself_does_not_beat_it(self) -> None:
        y, _ = regime_classes(4)
        majority = majority_baseline(y, len(y))
        baselines = {"majority": majority, "previous_direction": previous_like(y)}
        verdict = training_verdict(y, majority, baselines, no_regressors(), horizon=HORIZON)
        assert not verdict.passed
        majority_result = verdict.to_dict()["targets"]["direction"]["comparisons"][0]
        assert majority_result["improvement"] == 0.0 and majority_result["p_value"] == 1.0
        assert verdict.sentence.startswith("does not beat the majority (p=1.000) or")
        assert verdict.sentence.endswith("baseline: do not trade it")

    def test_one_lost_baseline_is_named_alone(self) -> None:
        y, proba = regime_classes(5)
        baselines = {"majority": majority_baseline(y, len(y)), "previous_direction": proba}
        verdict = training_verdict(y, proba, baselines, no_regressors(), horizon=HORIZON)
        assert (
            verdict.sentence
            == "does not beat the previous-direction baseline (p=1.000): do not trade it"
        )

    def test_deterministic_for_a_seed(self) -> None:
        y, proba = regime_classes(6)
        noisy = 0.9 * proba + 0.1 * majority_baseline(y, len(y))
        baselines = {"majority": majority_baseline(y, len(y))}
        first = training_verdict(y, noisy, baselines, no_regressors(), horizon=HORIZON, seed=1)
        again = training_verdict(y, noisy, baselines, no_regressors(), horizon=HORIZON, seed=1)
        assert first.to_dict() == again.to_dict()


class TestRegressors:
    def regressor(self, seed: int, noise: float) -> RegressionTarget:
        rng = np.random.default_rng(seed)
        truth = np.cumsum(rng.standard_normal(ROWS)) * 0.01 + rng.standard_normal(ROWS)
        truth[-HORIZON:] = np.nan  # the last rows have no forward value yet
        prediction = truth + noise * rng.standard_normal(ROWS)
        return RegressionTarget(truth=truth, prediction=prediction, naive=np.zeros(ROWS))

    def test_skill_and_its_sentence(self) -> None:
        y, proba = regime_classes(7)
        baselines = {"majority": majority_baseline(y, len(y))}
        regressors = {"good": self.regressor(8, 0.3), "bad": self.regressor(9, 3.0)}
        data = training_verdict(y, proba, baselines, regressors, horizon=HORIZON).to_dict()
        good, bad = data["targets"]["good"], data["targets"]["bad"]
        assert good["passed"] and good["sentence"] == "beats the naive baseline (p<0.001)"
        skill = good["comparisons"][0]
        assert skill["improvement"] == pytest.approx(
            1 - skill["model"] ** 2 / skill["baseline_value"] ** 2
        )
        assert skill["low"] < skill["improvement"] < skill["high"]
        assert not bad["passed"] and bad["sentence"] == "does not beat the naive baseline (p=1.000)"
        assert data["passed"]  # the verdict is the direction target's


def test_p_text() -> None:
    assert p_text(0.0004) == "p<0.001"
    assert p_text(0.0123) == "p=0.012"
