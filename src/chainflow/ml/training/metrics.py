"""Out-of-sample metrics for the 3-class direction models and the baselines they must beat.

Classes are ``0`` down, ``1`` flat, ``2`` up (``chainflow.ml.training.labels``); a prediction is an
``(n, 3)`` matrix of class probabilities. The baselines are probabilistic too, so log-loss
and Brier compare like with like: ``majority_baseline`` (train class frequencies) and
``previous_direction_baseline`` (train frequencies of each class given the direction of
the last bar, Laplace-smoothed). For the regression targets the naive forecasts are
``Dataset.past_volatility`` for ``forward_volatility`` and zero for ``forward_momentum``;
``regression_skill`` compares a model with such a baseline.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import balanced_accuracy_score, log_loss, roc_auc_score

from chainflow.ml.errors import InsufficientDataError, InvalidMlInputError
from chainflow.ml.training.labels import CLASS_NAMES

__all__ = [
    "PROBABILITY_CLIP",
    "classification_metrics",
    "log_loss_rows",
    "majority_baseline",
    "previous_direction_baseline",
    "regression_metrics",
    "regression_skill",
]

PROBABILITY_CLIP = 1e-15
_CLASSES = len(CLASS_NAMES)
_LABELS = list(range(_CLASSES))

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def classification_metrics(y_true: ArrayLike, proba: ArrayLike) -> dict[str, float]:
    """``rows``, ``accuracy`` and ``balanced_accuracy`` (of the argmax class), ``log_loss``
    (probabilities clipped to [1e-15, 1 - 1e-15] and renormalized), ``brier`` (mean over
    rows of the sum over classes of ``(p - onehot) ** 2``; 0 perfect, 2 worst) and ``auc``
    (macro one-vs-rest ROC AUC). ``auc`` is NaN when a class is absent from ``y_true``
    (one-vs-rest AUC is undefined for a class without positives)."""
    y = _classes("y_true", y_true)
    p = _probabilities("proba", proba, y.size)
    if y.size == 0:
        raise InvalidMlInputError("expected at least one row to score; received none")
    predicted = p.argmax(axis=1)
    clipped = np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    onehot = np.eye(_CLASSES)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # y_pred with classes absent from y_true
        balanced = float(balanced_accuracy_score(y, predicted))
    present = np.unique(y).size == _CLASSES
    auc = (
        float(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=_LABELS))
        if present
        else float("nan")
    )
    return {
        "rows": float(y.size),
        "accuracy": float(np.mean(predicted == y)),
        "balanced_accuracy": balanced,
        "log_loss": float(log_loss(y, clipped, labels=_LABELS)),
        "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        "auc": auc,
    }


def log_loss_rows(y_true: ArrayLike, proba: ArrayLike) -> FloatArray:
    """Each row's log-loss ``-log p[y]``, probabilities clipped and renormalized as in
    ``classification_metrics`` (whose ``log_loss`` is the mean of these)."""
    y = _classes("y_true", y_true)
    p = _probabilities("proba", proba, y.size)
    clipped = np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return np.asarray(-np.log(clipped[np.arange(y.size), y]), dtype=np.float64)


def majority_baseline(y_train: ArrayLike, n_test: int) -> FloatArray:
    """``(n_test, 3)`` rows all equal to the train class frequencies: the argmax is the
    majority class (the lowest class on a tie)."""
    y = _classes("y_train", y_train)
    if y.size == 0:
        raise InsufficientDataError("expected at least one training label; received none")
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) or n_test < 0:
        raise InvalidMlInputError(f"expected n_test an int >= 0; received {n_test!r}")
    frequencies = np.bincount(y, minlength=_CLASSES) / y.size
    return np.tile(frequencies.astype(np.float64), (int(n_test), 1))


def previous_direction_baseline(
    prev_direction_test: ArrayLike,
    y_train: ArrayLike,
    prev_direction_train: ArrayLike,
    *,
    smoothing: float = 1.0,
) -> FloatArray:
    """``P(class | direction of the last bar)`` estimated on the training rows with additive
    (Laplace) ``smoothing``, applied to each test row's previous direction (0 down, 1 flat,
    2 up, as ``chainflow.ml.training.labels.previous_direction``)."""
    y = _classes("y_train", y_train)
    prev_train = _classes("prev_direction_train", prev_direction_train)
    prev_test = _classes("prev_direction_test", prev_direction_test)
    if prev_train.size != y.size:
        raise InvalidMlInputError(
            f"expected prev_direction_train of length {y.size} like y_train; "
            f"received {prev_train.size}"
        )
    if not (np.isfinite(smoothing) and smoothing > 0.0):
        raise InvalidMlInputError(f"expected smoothing > 0; received {smoothing!r}")
    counts = np.zeros((_CLASSES, _CLASSES))
    np.add.at(counts, (prev_train, y), 1.0)
    counts += smoothing
    conditional = counts / counts.sum(axis=1, keepdims=True)
    return conditional[prev_test]


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """``mae`` and ``rmse`` over the rows where both values are finite (``rows`` of them;
    NaN metrics when there are none)."""
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if truth.ndim != 1 or pred.shape != truth.shape:
        raise InvalidMlInputError(
            f"expected y_true and y_pred one-dimensional of the same length; received "
            f"{truth.shape} and {pred.shape}"
        )
    usable = np.isfinite(truth) & np.isfinite(pred)
    if not usable.any():
        return {"rows": 0.0, "mae": float("nan"), "rmse": float("nan")}
    error = pred[usable] - truth[usable]
    return {
        "rows": float(usable.sum()),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
    }


def regression_skill(
    y_true: ArrayLike, y_pred: ArrayLike, y_baseline: ArrayLike
) -> dict[str, float]:
    """Model and baseline ``mae``/``rmse`` on the rows where all three are finite, and
    ``skill = 1 - mse_model / mse_baseline`` (> 0: the model beats the baseline)."""
    truth = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    base = np.asarray(y_baseline, dtype=np.float64)
    if pred.shape != truth.shape or base.shape != truth.shape or truth.ndim != 1:
        raise InvalidMlInputError(
            f"expected y_true, y_pred and y_baseline one-dimensional of the same length; "
            f"received {truth.shape}, {pred.shape} and {base.shape}"
        )
    common = np.isfinite(truth) & np.isfinite(pred) & np.isfinite(base)
    truth, pred, base = truth[common], pred[common], base[common]
    model = regression_metrics(truth, pred)
    baseline = regression_metrics(truth, base)
    base_mse = baseline["rmse"] ** 2
    skill = 1.0 - model["rmse"] ** 2 / base_mse if base_mse > 0.0 else float("nan")
    return {
        "rows": model["rows"],
        "mae": model["mae"],
        "rmse": model["rmse"],
        "baseline_mae": baseline["mae"],
        "baseline_rmse": baseline["rmse"],
        "skill": skill,
    }


def _classes(name: str, values: ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidMlInputError(f"expected {name} one-dimensional; received shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidMlInputError(f"expected {name} as integer classes; received dtype {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    bad = np.flatnonzero((out < 0) | (out >= _CLASSES))
    if bad.size:
        raise InvalidMlInputError(
            f"expected {name} among {_LABELS} ({', '.join(CLASS_NAMES)}); received "
            f"{int(out[bad[0]])} at row {int(bad[0])}"
        )
    return out


def _probabilities(name: str, values: ArrayLike, rows: int) -> FloatArray:
    p = np.asarray(values, dtype=np.float64)
    if p.shape != (rows, _CLASSES):
        raise InvalidMlInputError(
            f"expected {name} of shape ({rows}, {_CLASSES}); received {p.shape}"
        )
    if not np.isfinite(p).all() or (p < 0.0).any():
        raise InvalidMlInputError(
            f"expected {name} finite and >= 0; received a negative or NaN value"
        )
    sums = p.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
    if off.size:
        raise InvalidMlInputError(
            f"expected {name} rows summing to 1; received {float(sums[off[0]])} at row "
            f"{int(off[0])}"
        )
    return p
