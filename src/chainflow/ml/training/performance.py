"""Live accuracy of a model on one symbol: scored predictions in, rolling quality out.

A prediction is scored when its horizon has passed (the service knows the realized class
from the bars). ``LivePerformance`` keeps the last ``window`` scored predictions and reports
the hit rate (argmax == realized class), the multi-class Brier score, calibration (mean
predicted probability vs observed frequency of the predicted class, per probability bin),
and whether the model is below its baseline: its rolling hit rate under the accuracy its
training run measured for the majority-class baseline, once ``min_scored`` predictions are
in. ``population_stability_index`` measures feature drift between the training
distribution (its quantile edges, stored with the model) and live values.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from chainflow.ml.errors import InvalidMlInputError

N_CLASSES = 3
CALIBRATION_BINS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0000001)


@dataclass(frozen=True, slots=True)
class ScoredPrediction:
    """One prediction whose outcome is known."""

    ts: int
    probabilities: tuple[float, float, float]
    realized: int  # 0 down, 1 flat, 2 up

    @property
    def hit(self) -> bool:
        return int(np.argmax(self.probabilities)) == self.realized

    @property
    def brier(self) -> float:
        return sum(
            (p - (1.0 if i == self.realized else 0.0)) ** 2
            for i, p in enumerate(self.probabilities)
        )


class LivePerformance:
    """Rolling quality of one model on one symbol and timeframe."""

    def __init__(
        self, *, window: int = 500, min_scored: int = 50, baseline_accuracy: float
    ) -> None:
        if window < 1 or min_scored < 1:
            raise InvalidMlInputError(
                f"expected window, min_scored >= 1; received {window}, {min_scored}"
            )
        if not 0.0 <= baseline_accuracy <= 1.0:
            raise InvalidMlInputError(
                f"expected a baseline accuracy in [0, 1]; received {baseline_accuracy}"
            )
        self.window = window
        self.min_scored = min_scored
        self.baseline_accuracy = baseline_accuracy
        self.scored_total = 0
        self._recent: deque[ScoredPrediction] = deque(maxlen=window)

    def add(self, scored: ScoredPrediction) -> None:
        self._recent.append(scored)
        self.scored_total += 1

    @property
    def count(self) -> int:
        return len(self._recent)

    def hit_rate(self) -> float:
        return _mean([s.hit for s in self._recent])

    def brier(self) -> float:
        return _mean([s.brier for s in self._recent])

    def calibration(self) -> list[dict[str, float | int]]:
        """Per bin of the top probability: predictions, mean confidence, observed hit rate."""
        rows: list[dict[str, float | int]] = []
        for low, high in zip(CALIBRATION_BINS, CALIBRATION_BINS[1:], strict=False):
            members = [s for s in self._recent if low <= max(s.probabilities) < high]
            if members:
                rows.append(
                    {
                        "low": low,
                        "high": min(high, 1.0),
                        "count": len(members),
                        "confidence": _mean([max(s.probabilities) for s in members]),
                        "hit_rate": _mean([s.hit for s in members]),
                    }
                )
        return rows

    @property
    def below_baseline(self) -> bool:
        """Whether the rolling hit rate is under the baseline (after ``min_scored``)."""
        return self.count >= self.min_scored and self.hit_rate() < self.baseline_accuracy

    def report(self) -> dict[str, Any]:
        return {
            "scored": self.count,
            "scored_total": self.scored_total,
            "hit_rate": _finite(self.hit_rate()),
            "brier": _finite(self.brier()),
            "baseline_accuracy": self.baseline_accuracy,
            "below_baseline": self.below_baseline,
            "calibration": self.calibration(),
        }


def quantile_edges(values: ArrayLike, bins: int = 10) -> list[float]:
    """Return the inner quantile edges of a feature's training values (for PSI later)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return []
    edges = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return [float(e) for e in np.unique(edges)]


def population_stability_index(
    edges: Sequence[float], expected_fractions: Sequence[float], actual: ArrayLike
) -> float:
    """PSI of ``actual`` values against the training distribution binned at ``edges``.

    ``expected_fractions`` are the training shares per bin (len(edges) + 1). Empty bins get
    a floor of 1e-4 so the logarithm stays finite. Rule of thumb: < 0.1 stable, 0.1–0.25
    moderate drift, > 0.25 significant drift.
    """
    values = np.asarray(actual, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(expected_fractions) != len(edges) + 1:
        raise InvalidMlInputError(
            f"expected {len(edges) + 1} training fractions for {len(edges)} edges; "
            f"received {len(expected_fractions)}"
        )
    if values.size == 0:
        return math.nan
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    actual_share = np.maximum(counts / values.size, 1e-4)
    expected = np.maximum(np.asarray(expected_fractions, dtype=np.float64), 1e-4)
    return float(np.sum((actual_share - expected) * np.log(actual_share / expected)))


def bin_fractions(edges: Sequence[float], values: ArrayLike) -> list[float]:
    """Return the share of ``values`` per bin of ``edges`` (the training side of PSI)."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
    return [float(c) for c in counts / max(finite.size, 1)]


def _mean(values: Sequence[float | bool]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
