"""Which features a model leans on, measured on the rows it never saw.

*Permutation importance* (every family): on a fold's out-of-sample rows, shuffle one
feature across the rows (the whole window of it, for models that read windows), score
again, and take the increase of the log-loss; a feature the model ignores gives about 0,
one it relies on a clear increase, and one that only helped it overfit may give a
negative value. The report's figure is the mean over the walk-forward folds (one shuffle
per fold and feature, seeded).

*TreeSHAP* (XGBoost and LightGBM, which compute it natively: ``pred_contribs`` /
``pred_contrib``): each feature's mean absolute contribution to the raw scores of the
three classes, summed over the classes, on the same out-of-sample rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightgbm
import numpy as np
import xgboost
from numpy.typing import NDArray

from chainflow.ml.training.metrics import log_loss_rows

__all__ = ["permutation_increase", "summarize_importance", "tree_shap"]

TOP = 10
FloatArray = NDArray[np.float64]
Scorer = Callable[[NDArray[Any]], FloatArray]  # inputs of the test rows -> (n, 3)


def permutation_increase(
    score: Scorer, inputs: NDArray[Any], y: NDArray[np.int64], seed: int
) -> FloatArray:
    """Log-loss increase per feature (last axis of ``inputs``) when it is shuffled."""
    base = float(log_loss_rows(y, score(inputs)).mean())
    order = np.random.default_rng(seed).permutation(len(y))
    increases = np.empty(inputs.shape[-1])
    for j in range(inputs.shape[-1]):
        shuffled = inputs.copy()
        shuffled[..., j] = inputs[order][..., j]
        increases[j] = float(log_loss_rows(y, score(shuffled)).mean()) - base
    return increases


def tree_shap(model: Any, X: NDArray[Any]) -> FloatArray | None:
    """Mean |SHAP| per feature (summed over the classes) of a tree model; None otherwise."""
    features = np.asarray(X, dtype=np.float32)
    k = features.shape[1]
    if isinstance(model, lightgbm.LGBMClassifier):
        contributions = np.asarray(model.predict(features, pred_contrib=True))
        per_class = contributions.reshape(len(features), -1, k + 1)
    elif isinstance(model, xgboost.XGBClassifier):
        matrix = xgboost.DMatrix(features)
        per_class = np.asarray(model.get_booster().predict(matrix, pred_contribs=True))
    else:
        return None
    return np.asarray(np.abs(per_class[..., :k]).mean(axis=0).sum(axis=0), dtype=np.float64)


def summarize_importance(
    names: Sequence[str], permutation: Sequence[FloatArray], shap: Sequence[FloatArray]
) -> dict[str, Any]:
    """The report's importance: per feature, sorted (largest first), and the top names."""
    mean = np.mean(np.stack(permutation), axis=0)
    ranked = np.argsort(-mean, kind="stable")
    report: dict[str, Any] = {
        "method": "permutation: log-loss increase when the feature is shuffled on the "
        "out-of-sample rows, mean over folds",
        "permutation": [{"feature": names[j], "increase": float(mean[j])} for j in ranked],
        "top": [names[j] for j in ranked[:TOP]],
    }
    if shap:
        values = np.mean(np.stack(shap), axis=0)
        order = np.argsort(-values, kind="stable")
        report["tree_shap"] = [{"feature": names[j], "mean_abs": float(values[j])} for j in order]
    return report
