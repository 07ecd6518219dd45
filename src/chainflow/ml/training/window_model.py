"""A light model trained on one window of bars, for walk-forward backtests.

Unlike ``run.train_on_dataset`` (purged folds, baselines, GARCH, parity check), this
fits once: an XGBoost classifier and two XGBoost regressors (forward volatility and
momentum) on the ``fx-core@1`` rows of the given bars, with few trees, exported to one
ONNX bundle and loaded for serving. It sees only the bars it is given: a row is kept only
when its label is complete inside them (the last ``horizon`` bars have none), so the
labels never reach past the last bar — ``label_end_ts`` says how far they reach.

Bars without a spread (``spread=None``: an OHLCV CSV) are trained with a spread of 0, as
``chainflow train`` does (``steps.training_bars``); the dataset then drops the dead spread
features, and the bundle is widened back to the feature set's full vector
(``run_parts.widen_bundle``, as ``run.train_on_dataset`` does), so every bundle takes the
vector ``feature_matrix`` and live serving build, and the dropped inputs cannot move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from chainflow.core.market import BarSeries
from chainflow.features.api import get_feature_set
from chainflow.ml.errors import InsufficientDataError
from chainflow.ml.training import gbm, onnx_export
from chainflow.ml.training.bundle import combine_models
from chainflow.ml.training.datasets import build_dataset
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.run_parts import widen_bundle
from chainflow.ml.training.serving import ModelBundle

FEATURE_SET = "fx-core@1"
LIGHT_SETTINGS: dict[str, Any] = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.1}


@dataclass(frozen=True, slots=True)
class WindowModel:
    """A bundle trained on one window: ``train_from_ts``/``train_to_ts`` bound the rows'
    bars, ``label_end_ts`` is the last bar any label used."""

    bundle: ModelBundle
    onnx: bytes
    train_from_ts: int
    train_to_ts: int
    label_end_ts: int
    rows: int
    feature_set: str = FEATURE_SET


def train_window_model(
    *,
    ts: ArrayLike,
    open: ArrayLike,  # noqa: A002 - the bar field's name
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    spread: ArrayLike | None = None,
    horizon: int = 12,
    threshold_atr: float = 0.5,
    seed: int = 0,
    threads: int = 1,
) -> WindowModel:
    """Fit the light bundle on these bars only; raise ``ValueError`` when too few rows."""
    bars = BarSeries.from_arrays(
        ts=ts,
        open=open,
        high=high,
        low=low,
        close=close,
        volume=volume,
        spread=np.zeros(len(np.asarray(ts))) if spread is None else spread,
    )
    label = LabelSpec(kind="direction", horizon=horizon, threshold_atr=threshold_atr)
    ds = build_dataset(bars, get_feature_set(FEATURE_SET), label)
    if len(ds) < 50:
        raise InsufficientDataError(
            f"expected at least 50 usable rows to train a window model; received {len(ds)} "
            f"from {len(bars)} bars (warm-up and the {horizon}-bar label horizon are lost)"
        )
    k = ds.X.shape[1]
    classifier = gbm.train_xgboost_classifier(
        ds.X, ds.y, params=LIGHT_SETTINGS, seed=seed, n_threads=threads
    )
    parts = {"probabilities": (onnx_export.classifier_to_onnx(classifier, k), "probabilities")}
    for name, target in (("volatility", ds.forward_volatility), ("momentum", ds.forward_momentum)):
        rows = np.isfinite(target)
        model = gbm.train_xgboost_regressor(
            ds.X[rows], target[rows], params=LIGHT_SETTINGS, seed=seed, n_threads=threads
        )
        parts[name] = (onnx_export.regressor_to_onnx(model, k), "prediction")
    onnx = combine_models(
        parts,
        metadata={
            "feature_set": FEATURE_SET,
            "family": "xgboost",
            "label_horizon": str(horizon),
            "window": "1",
        },
    )
    onnx = widen_bundle(onnx, ds.served_names, ds.feature_names)  # dropped dead inputs
    return WindowModel(
        bundle=ModelBundle(onnx, threads=threads),
        onnx=onnx,
        train_from_ts=int(ds.ts[0]),
        train_to_ts=int(ds.ts[-1]),
        label_end_ts=int(ds.label_end_ts.max()),
        rows=len(ds),
    )
