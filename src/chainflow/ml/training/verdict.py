"""The verdict of a training run: does the model beat its baselines, and how surely?

Each target is scored on its primary metric over the out-of-sample rows of the purged
walk-forward folds, against each of its baselines (``chainflow.ml.training.metrics``):

- ``direction`` (the classes a signal trades on): log-loss, against the ``majority`` and
  ``previous_direction`` baselines. The *improvement* is baseline log-loss minus model
  log-loss, the mean over rows of the per-row difference.
- ``volatility`` and ``momentum`` (regressors): skill against the naive forecast (past
  realized volatility; no move), ``1 - MSE_model / MSE_naive``, itself the improvement
  (the comparison's ``model`` and ``baseline_value`` are then the two RMSEs).

An improvement > 0 means the model is better. Its 95% interval and one-sided p-value come
from a circular block bootstrap of the rows (``chainflow.ml.training.bootstrap``), blocks at least
the label horizon long since neighbouring rows share their future. A comparison is *won*
when the improvement is > 0 with ``p <= ALPHA`` (0.05).

The run's verdict is that of ``direction``: the model is what signals trade, so it
``passed`` when it wins against every baseline. The regressors are reported beside it
(they size and describe, they do not pick the side). The plain sentence says it:
"beats both baselines (p=0.012)" or "does not beat the majority baseline (p=0.41): do not
trade it". ``chainflow.ml.registry.promotion_gate`` reads ``passed`` and the sentence back from a
registered version's metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.ml.training.bootstrap import (
    DEFAULT_RESAMPLES,
    BootstrapResult,
    block_length,
    bootstrap_statistic,
    circular_block_means,
)
from chainflow.ml.training.metrics import log_loss_rows

__all__ = [
    "ALPHA",
    "METHOD",
    "Comparison",
    "RegressionTarget",
    "TargetVerdict",
    "Verdict",
    "p_text",
    "training_verdict",
]

ALPHA = 0.05
METHOD = "circular block bootstrap"
PRIMARY_TARGET = "direction"
BASELINE_NAMES = {
    "majority": "majority",
    "previous_direction": "previous-direction",
    "naive": "naive",
}

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Comparison:
    """The model against one baseline on one target's primary metric."""

    baseline: str
    model_value: float
    baseline_value: float
    improvement: BootstrapResult

    @property
    def wins(self) -> bool:
        return self.improvement.value > 0.0 and self.improvement.p_value <= ALPHA

    def to_dict(self) -> dict[str, Any]:
        result = self.improvement
        return {
            "baseline": self.baseline,
            "model": self.model_value,
            "baseline_value": self.baseline_value,
            "improvement": result.value,
            "low": result.low,
            "high": result.high,
            "p_value": result.p_value,
            "beats": self.wins,
        }


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """One target's comparisons and the sentence that sums them up."""

    target: str
    metric: str
    comparisons: tuple[Comparison, ...]

    @property
    def passed(self) -> bool:
        return bool(self.comparisons) and all(c.wins for c in self.comparisons)

    @property
    def sentence(self) -> str:
        return _sentence(self.comparisons, traded=self.target == PRIMARY_TARGET)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "passed": self.passed,
            "sentence": self.sentence,
            "comparisons": [c.to_dict() for c in self.comparisons],
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """All targets; ``passed`` and ``sentence`` are the direction target's."""

    targets: tuple[TargetVerdict, ...]
    block: int
    resamples: int
    seed: int

    @property
    def primary(self) -> TargetVerdict:
        return next(t for t in self.targets if t.target == PRIMARY_TARGET)

    @property
    def passed(self) -> bool:
        return self.primary.passed

    @property
    def sentence(self) -> str:
        return self.primary.sentence

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "sentence": self.sentence,
            "alpha": ALPHA,
            "method": METHOD,
            "block": self.block,
            "resamples": self.resamples,
            "seed": self.seed,
            "targets": {t.target: t.to_dict() for t in self.targets},
        }


@dataclass(frozen=True, slots=True)
class RegressionTarget:
    """Out-of-sample truth, model forecast and naive forecast of one regression target."""

    truth: FloatArray
    prediction: FloatArray
    naive: FloatArray


def training_verdict(
    y: NDArray[np.int64],
    model_proba: FloatArray,
    baseline_probas: Mapping[str, FloatArray],
    regressors: Mapping[str, RegressionTarget],
    *,
    horizon: int,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
) -> Verdict:
    """Compare the model with each baseline on the out-of-sample rows (rows in time order)."""
    block = block_length(len(y), horizon)
    targets = [_classification(y, model_proba, baseline_probas, block, seed, resamples)]
    for name, target in regressors.items():
        targets.append(_regression(name, target, horizon, seed, resamples))
    return Verdict(targets=tuple(targets), block=block, resamples=resamples, seed=seed)


def _classification(
    y: NDArray[np.int64],
    model_proba: FloatArray,
    baseline_probas: Mapping[str, FloatArray],
    block: int,
    seed: int,
    resamples: int,
) -> TargetVerdict:
    model_loss = log_loss_rows(y, model_proba)
    losses = {name: log_loss_rows(y, proba) for name, proba in baseline_probas.items()}
    differences = np.stack([loss - model_loss for loss in losses.values()])
    resampled = circular_block_means(differences, block, resamples, seed)
    comparisons = tuple(
        Comparison(
            baseline=name,
            model_value=float(model_loss.mean()),
            baseline_value=float(loss.mean()),
            improvement=bootstrap_statistic(
                float(differences[index].mean()), resampled[:, index], block
            ),
        )
        for index, (name, loss) in enumerate(losses.items())
    )
    return TargetVerdict(target=PRIMARY_TARGET, metric="log_loss", comparisons=comparisons)


def _regression(
    name: str, target: RegressionTarget, horizon: int, seed: int, resamples: int
) -> TargetVerdict:
    usable = np.isfinite(target.truth) & np.isfinite(target.prediction) & np.isfinite(target.naive)
    truth = target.truth[usable]
    squared = np.stack(
        [(target.prediction[usable] - truth) ** 2, (target.naive[usable] - truth) ** 2]
    )
    if truth.size == 0 or squared[1].sum() <= 0.0:
        return TargetVerdict(target=name, metric="skill", comparisons=())
    block = block_length(truth.size, horizon)
    means = circular_block_means(squared, block, resamples, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        skills = 1.0 - means[:, 0] / means[:, 1]
    skills = np.where(np.isfinite(skills), skills, -np.inf)  # a resample with no naive error
    model_mse, naive_mse = float(squared[0].mean()), float(squared[1].mean())
    comparison = Comparison(
        baseline="naive",
        model_value=float(np.sqrt(model_mse)),
        baseline_value=float(np.sqrt(naive_mse)),
        improvement=bootstrap_statistic(1.0 - model_mse / naive_mse, skills, block),
    )
    return TargetVerdict(target=name, metric="skill", comparisons=(comparison,))


def _sentence(comparisons: tuple[Comparison, ...], *, traded: bool) -> str:
    if not comparisons:
        return "no verdict: too few usable rows to compare with a baseline"
    lost = [c for c in comparisons if not c.wins]
    if not lost:
        worst = max(c.improvement.p_value for c in comparisons)
        which = "both baselines" if len(comparisons) == 2 else _baselines(comparisons)
        return f"beats {which} ({p_text(worst)})"
    if len(lost) == 1:
        (only,) = lost
        names = f"{_name(only)} baseline ({p_text(only.improvement.p_value)})"
    else:
        names = " or ".join(f"{_name(c)} ({p_text(c.improvement.p_value)})" for c in lost)
        names += " baseline"
    advice = ": do not trade it" if traded else ""
    return f"does not beat the {names}{advice}"


def _name(comparison: Comparison) -> str:
    return BASELINE_NAMES.get(comparison.baseline, comparison.baseline)


def _baselines(comparisons: tuple[Comparison, ...]) -> str:
    names = [_name(c) for c in comparisons]
    return f"the {' and '.join(names)} baseline" + ("s" if len(names) > 1 else "")


def p_text(p_value: float) -> str:
    """``p=0.012`` (three decimals), or ``p<0.001``."""
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"
