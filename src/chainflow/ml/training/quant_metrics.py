"""What a quant reads before trusting a direction model: rank IC, ICIR, hit rate by confidence.

- *Edge* of a row: ``P(up) - P(down)`` of the model's class probabilities (classes as in
  ``chainflow.ml.training.labels``), the signed conviction a signal trades on.
- *Rank IC*: Spearman's correlation of the edge with the realized forward return over the
  same rows (here ``Dataset.forward_momentum``, the forward log return over the label horizon
  in ATR units; a rank statistic does not care about the scale). Reported pooled over all
  out-of-sample rows and per walk-forward fold; *ICIR* is the mean of the fold ICs over their
  standard deviation (ddof 1), how steady the IC is from one period to the next (NaN with
  fewer than two folds or no spread).
- *Hit rate by confidence decile*: the rows sorted by confidence (the highest class
  probability) and cut into ten groups of (nearly) equal size, lowest first; for each, the
  share whose most probable class was the realized one. A model whose confidence means
  something hits more often in its top deciles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from chainflow.ml.training.labels import DOWN, UP

__all__ = [
    "edge_of",
    "hit_rate_by_confidence",
    "information_coefficients",
    "quant_report",
    "rank_ic",
]

DECILES = 10
MIN_ROWS = 3

FloatArray = NDArray[np.float64]


def edge_of(proba: FloatArray) -> FloatArray:
    """``P(up) - P(down)`` of each row of ``(n, 3)`` class probabilities."""
    return np.asarray(proba[:, UP] - proba[:, DOWN], dtype=np.float64)


def rank_ic(edge: FloatArray, realized: FloatArray) -> float:
    """Spearman's correlation of ``edge`` and ``realized`` over the rows where both are
    finite (NaN with fewer than 3 such rows or a constant side)."""
    usable = np.isfinite(edge) & np.isfinite(realized)
    if int(usable.sum()) < MIN_ROWS:
        return float("nan")
    a, b = rankdata(edge[usable]), rankdata(realized[usable])
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / scale) if scale > 0.0 else float("nan")


def information_coefficients(
    edge: FloatArray, realized: FloatArray, fold_sizes: Sequence[int]
) -> dict[str, Any]:
    """Pooled rank IC, one per fold (consecutive blocks of ``fold_sizes`` rows), and ICIR."""
    bounds = np.cumsum([0, *fold_sizes])
    if int(bounds[-1]) != len(edge):
        raise ValueError(f"expected fold sizes adding up to {len(edge)}; received {fold_sizes}")
    spans = zip(bounds[:-1], bounds[1:], strict=True)
    folds = [rank_ic(edge[lo:hi], realized[lo:hi]) for lo, hi in spans]
    finite = np.array([ic for ic in folds if np.isfinite(ic)])
    spread = float(finite.std(ddof=1)) if finite.size >= 2 else float("nan")
    mean = float(finite.mean()) if finite.size else float("nan")
    icir = mean / spread if np.isfinite(spread) and spread > 0.0 else float("nan")
    return {"pooled": rank_ic(edge, realized), "folds": folds, "mean": mean, "icir": icir}


def hit_rate_by_confidence(y: NDArray[np.int64], proba: FloatArray) -> list[dict[str, Any]]:
    """Per confidence decile (lowest first): its confidence range, rows and hit rate."""
    confidence = proba.max(axis=1)
    hits = proba.argmax(axis=1) == y
    order = np.argsort(confidence, kind="stable")
    groups = [g for g in np.array_split(order, DECILES) if g.size]
    return [
        {
            "decile": index + 1,
            "rows": int(group.size),
            "confidence_low": float(confidence[group].min()),
            "confidence_high": float(confidence[group].max()),
            "hit_rate": float(hits[group].mean()),
        }
        for index, group in enumerate(groups)
    ]


def quant_report(
    y: NDArray[np.int64], proba: FloatArray, realized: FloatArray, fold_sizes: Sequence[int]
) -> dict[str, Any]:
    """The rank IC (pooled, per fold, ICIR) and hit rate by confidence decile of ``proba``."""
    return {
        "edge": "p_up - p_down",
        "realized": "forward return over the label horizon, in ATR units",
        "rank_ic": information_coefficients(edge_of(proba), realized, fold_sizes),
        "hit_rate_by_confidence": hit_rate_by_confidence(y, proba),
    }
