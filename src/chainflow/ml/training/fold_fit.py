"""Fitting the members of a family on some rows, with the optional calibration step.

``fit_members`` fits every member family on the given training rows and, with
``config.calibrate``, first holds out the last ``CALIBRATION_SHARE`` of them (time order)
as the *inner validation split*: the members are fitted on the rows before it (purged:
rows whose label ends at or after the split's first bar are dropped, so no label overlaps
it), and the calibrator (``chainflow.ml.training.calibration``) is fitted on the members' combined
output over the split. Each walk-forward fold and the final model use the same rule, so
the out-of-sample scores measure exactly what is served (at the price of fitting the
served model on the first 80% of the rows only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainflow.ml.errors import InsufficientDataError
from chainflow.ml.training import ensemble
from chainflow.ml.training.calibration import Calibrator, fit_calibrator
from chainflow.ml.training.datasets import Dataset
from chainflow.ml.training.families import Family
from chainflow.ml.training.importance import permutation_increase

if TYPE_CHECKING:
    from chainflow.ml.training.run import TrainingConfig

__all__ = ["CALIBRATION_SHARE", "FittedMembers", "fit_members", "member_permutation"]

CALIBRATION_SHARE = 0.2
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FittedMembers:
    """Fitted member models, their ensemble weights and the calibrator (or None)."""

    models: tuple[Any, ...]
    weights: FloatArray
    calibrator: Calibrator | None

    def combine(self, probas: Sequence[FloatArray]) -> FloatArray:
        """The members' probabilities combined (weighted) and calibrated."""
        raw = ensemble.ensemble_proba(list(probas), self.weights) if len(probas) > 1 else probas[0]
        return raw if self.calibrator is None else self.calibrator.apply(raw)

    def predict(self, fams: Sequence[Family], inputs: Mapping[str, NDArray[Any]]) -> FloatArray:
        """Combined, calibrated probabilities of every member on its ``inputs``."""
        return self.combine(
            [f.predict(m, inputs[f.name]) for f, m in zip(fams, self.models, strict=True)]
        )


def calibration_split(
    ds: Dataset, rows: NDArray[np.int64], method: str | None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(fit rows, validation rows)``: all rows and none without a calibration method."""
    if method is None:
        return rows, rows[:0]
    cut = int(len(rows) * (1.0 - CALIBRATION_SHARE))
    held = rows[cut:]
    fit = rows[:cut]
    fit = fit[ds.label_end_ts[fit] < ds.ts[held[0]]]
    if len(fit) == 0 or len(held) == 0:
        raise InsufficientDataError(
            f"expected rows on both sides of the calibration split; received {len(rows)} rows"
        )
    return fit, held


def fit_members(
    fams: Sequence[Family],
    inputs: Mapping[str, NDArray[Any]],
    ds: Dataset,
    rows: NDArray[np.int64],
    weights: FloatArray,
    config: TrainingConfig,
) -> FittedMembers:
    """Fit every member on ``rows`` (less the inner validation split when calibrating)."""
    fit_rows, held = calibration_split(ds, rows, config.calibrate)
    models = tuple(f.fit(inputs[f.name][fit_rows], ds.y[fit_rows], config.seed) for f in fams)
    fitted = FittedMembers(models=models, weights=weights, calibrator=None)
    if config.calibrate is None:
        return fitted
    raw = fitted.predict(fams, {f.name: inputs[f.name][held] for f in fams})
    calibrator = fit_calibrator(config.calibrate, ds.y[held], raw)
    return FittedMembers(models=models, weights=weights, calibrator=calibrator)


def member_permutation(
    fams: Sequence[Family],
    fitted: FittedMembers,
    test_inputs: Mapping[str, NDArray[Any]],
    y: NDArray[np.int64],
    seed: int,
) -> FloatArray:
    """Permutation importance of the combined model on one fold's test rows: a feature is
    shuffled in the windows (when a member reads them) and so in their last rows."""
    windowed = [f for f in fams if f.window > 1]
    master = test_inputs[windowed[0].name] if windowed else test_inputs[fams[0].name]

    def score(values: NDArray[Any]) -> FloatArray:
        last = values[:, -1, :] if values.ndim == 3 else values
        return fitted.predict(fams, {f.name: values if f.window > 1 else last for f in fams})

    return permutation_increase(score, master, y, seed)
