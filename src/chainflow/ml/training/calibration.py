"""Calibration of class probabilities: how far confidence is from hit rate, and a fix.

*Reliability* (``reliability``): the out-of-sample rows binned by their top-class
probability (``BINS`` equal-width bins on [0, 1]); per bin its rows, mean confidence and
hit rate (the share whose top class was the realized one). The *expected calibration
error* (ECE) is the row-weighted mean of ``|hit rate - confidence|`` over the bins: 0 for a
model whose 60%-sure calls come true 60% of the time.

A ``Calibrator`` maps a classifier's ``(n, 3)`` probabilities to calibrated ones:

- ``temperature``: ``softmax(log p / T)`` with one ``T > 0`` fitted by minimizing the
  log-loss (``T > 1`` softens an over-confident model). It keeps the ranking of classes.
- ``isotonic``: per class, a non-decreasing piecewise-linear map of ``p_c`` fitted to the
  one-vs-rest outcome (scikit-learn's ``IsotonicRegression``, its knots kept), clipped
  outside the fitted range; the three results are renormalized to sum to 1 (each floored
  at ``FLOOR`` so that no class is impossible).

Training fits it on an inner validation split (``chainflow.ml.training.run``); the knots or the
temperature travel in the bundle's metadata (``METADATA_KEY``, JSON) and
``chainflow.ml.training.serving.ModelBundle.predict`` applies the same ``apply`` right after ONNX
Runtime, so batch scoring (backtests) and live scoring answer the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.core.errors import InvalidInput

__all__ = ["METHODS", "Calibrator", "fit_calibrator", "reliability"]

METHODS = ("isotonic", "temperature")
METADATA_KEY = "calibration"
BINS = 10
FLOOR = 0.01  # isotonic: small validation splits leave 0 in the tails
TEMPERATURE_BOUNDS = (-3.0, 3.0)  # log T: T from 0.05 to 20

FloatArray = NDArray[np.float64]


def reliability(y: NDArray[np.int64], proba: FloatArray, bins: int = BINS) -> dict[str, Any]:
    """Reliability table (non-empty bins of top-class probability) and the ECE."""
    confidence = proba.max(axis=1)
    hits = (proba.argmax(axis=1) == y).astype(np.float64)
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        rows = int(inside.sum())
        if rows == 0:
            continue
        mean_confidence = float(confidence[inside].mean())
        hit_rate = float(hits[inside].mean())
        ece += rows / len(y) * abs(hit_rate - mean_confidence)
        table.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "rows": rows,
                "confidence": mean_confidence,
                "hit_rate": hit_rate,
            }
        )
    return {"bins": table, "ece": float(ece)}


@dataclass(frozen=True, slots=True)
class Calibrator:
    """A fitted calibration map (``temperature`` or per-class isotonic ``knots``)."""

    method: str
    temperature: float = 1.0
    knots: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()

    def apply(self, proba: NDArray[Any]) -> FloatArray:
        """Calibrated ``(n, 3)`` probabilities of ``proba`` (float64, rows sum to 1)."""
        p = np.asarray(proba, dtype=np.float64)
        if self.method == "temperature":
            logits = np.log(np.clip(p, 1e-12, None)) / self.temperature
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)
        columns = [
            np.interp(p[:, c], np.asarray(x), np.asarray(v)) for c, (x, v) in enumerate(self.knots)
        ]
        mapped = np.maximum(np.stack(columns, axis=1), FLOOR)
        return np.asarray(mapped / mapped.sum(axis=1, keepdims=True), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        if self.method == "temperature":
            return {"method": self.method, "temperature": self.temperature}
        knots = [{"x": list(x), "y": list(v)} for x, v in self.knots]
        return {"method": self.method, "knots": knots}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        data = json.loads(text)
        method = data.get("method")
        if method == "temperature":
            return cls(method=method, temperature=float(data["temperature"]))
        if method == "isotonic":
            knots = tuple(
                (tuple(float(v) for v in k["x"]), tuple(float(v) for v in k["y"]))
                for k in data["knots"]
            )
            return cls(method=method, knots=knots)
        raise InvalidInput(f"expected a calibration method among {METHODS}; received {method!r}")


def fit_calibrator(method: str, y: NDArray[np.int64], proba: FloatArray) -> Calibrator:
    """Fit ``method`` on validation rows ``y`` and their uncalibrated ``proba``."""
    if method not in METHODS:
        raise InvalidInput(f"expected --calibrate among {', '.join(METHODS)}; received {method!r}")
    if len(y) == 0:
        raise InvalidInput("expected validation rows to fit a calibration on; received none")
    if method == "temperature":
        return Calibrator(method=method, temperature=_temperature(y, proba))
    from sklearn.isotonic import IsotonicRegression  # fitting only: serving stays lean

    knots = []
    for c in range(proba.shape[1]):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(proba[:, c], (y == c).astype(np.float64))
        knots.append(
            (tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_))
        )
    return Calibrator(method=method, knots=tuple(knots))


def _temperature(y: NDArray[np.int64], proba: FloatArray) -> float:
    from chainflow.ml.training.metrics import log_loss_rows  # fitting only (scikit-learn)

    def loss(log_t: float) -> float:
        scaled = Calibrator(method="temperature", temperature=math.exp(log_t)).apply(proba)
        return float(log_loss_rows(y, scaled).mean())

    from scipy.optimize import minimize_scalar  # fitting only: serving stays lean

    found = minimize_scalar(loss, bounds=TEMPERATURE_BOUNDS, method="bounded")
    return float(math.exp(found.x))
