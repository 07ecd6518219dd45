"""What a stopped search or walk-forward keeps so that a resume finishes it alike.

A checkpoint is JSON (stored in the job's row; non-finite numbers as ``null``) holding the
units of work finished so far, always a prefix: trials ``0 .. done-1`` of a search, windows
``0 .. done-1`` of a walk-forward. Common keys: ``unit`` (``trials`` or ``windows``),
``done`` and ``total``.

- A search keeps every finished trial's score (the heatmap and the feasible count need
  them) and the full record of only the trials that can still reach the result's top
  (``optimize_result.kept_trials``); any other trial comes back with its score alone.
  Combinations are not stored: grid, random and Bayesian points are regenerated from the
  request (and seed), so trial ``i`` is the same combination again.
- A walk-forward keeps each finished window whole, its out-of-sample curve included, so
  that the stitched curve is rebuilt exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chainflow.backtest.errors import BacktestCheckpointMismatchError
from chainflow.backtest.optimize_result import Trial, kept_trials

KEPT_TRIALS = 20  # the top a job's result shows (``OptimizationResult.to_json(top=20)``)


def trials_checkpoint(
    trials: Sequence[Trial], *, total: int, direction: str, keep: int = KEPT_TRIALS
) -> dict[str, Any]:
    """Return the checkpoint of a search whose trials ``0 .. len(trials)-1`` are done."""
    return {
        "unit": "trials",
        "done": len(trials),
        "total": total,
        "scores": [t.score for t in trials],
        "kept": [trial_to_json(t) for t in kept_trials(trials, direction, keep)],
    }


class TrialsCheckpoint:
    """A search checkpoint read back: the finished trials, rebuilt one index at a time."""

    def __init__(self, data: Mapping[str, Any], *, total: int) -> None:
        if data.get("unit") != "trials" or data.get("total") != total:
            raise BacktestCheckpointMismatchError(
                f"expected a checkpoint of a search of {total} trials; received one of "
                f"{data.get('total')} {data.get('unit')}"
            )
        self.done = int(data["done"])
        self._scores: list[float | None] = list(data["scores"])
        self._kept = {int(t["index"]): t for t in data["kept"]}

    def trial(self, index: int, params: dict[str, Any]) -> Trial:
        """Return finished trial ``index`` of combination ``params``."""
        kept = self._kept.get(index)
        if kept is not None:
            return trial_from_json(kept)
        return Trial(index, params, {}, self._scores[index])


def trial_to_json(trial: Trial) -> dict[str, Any]:
    """Return ``trial`` as JSON (non-finite metrics as ``None``)."""
    return {
        "index": trial.index,
        "params": trial.params,
        "metrics": {k: finite_or_none(v) for k, v in trial.metrics.items()},
        "score": trial.score,
        "reason": trial.reason,
    }


def trial_from_json(data: Mapping[str, Any]) -> Trial:
    """Return the trial ``trial_to_json`` wrote (``None`` metrics back to NaN)."""
    metrics = {k: math.nan if v is None else float(v) for k, v in data["metrics"].items()}
    return Trial(int(data["index"]), dict(data["params"]), metrics, data["score"], data["reason"])


def finite_or_none(value: float | None) -> float | None:
    """Return ``value`` when it is a finite number, else ``None`` (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def float_or_nan(value: float | None) -> float:
    """Return ``value``, or NaN for ``None`` (the inverse of ``finite_or_none``)."""
    return math.nan if value is None else float(value)


def floats_to_json(values: Any) -> list[float | None]:
    """Return an array of floats as a JSON list."""
    return [finite_or_none(float(v)) for v in np.asarray(values, dtype=np.float64)]


def floats_from_json(values: Sequence[float | None]) -> np.ndarray:
    """Return the array ``floats_to_json`` wrote."""
    return np.array([float_or_nan(v) for v in values], dtype=np.float64)
