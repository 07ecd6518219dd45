"""LightGBM split thresholds in ONNX: a float32 feature equal to a threshold's float32
rounding must take the native branch (``chainflow.ml.training.onnx_export``).

LightGBM keeps thresholds as doubles; a split between two adjacent float32 values sits at
their midpoint, whose nearest float32 is one of the two values. When it rounds *up*, the
row holding the upper value goes left under a plain float32 ``x <= v`` and right natively;
that flipped one row of a real training run by 0.0067 in probability (the parity error).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.ml.training.gbm import train_lightgbm_classifier, train_lightgbm_regressor
from chainflow.ml.training.onnx_export import classifier_to_onnx, regressor_to_onnx
from chainflow.ml.training.onnx_model import OnnxModel


def adjacent_pairs(n_pairs: int = 60) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """One feature holding pairs of adjacent float32 values; the upper one is class 2."""
    lower = np.linspace(0.1, 5.0, n_pairs, dtype=np.float32)
    upper = np.nextafter(lower, np.float32(np.inf))
    values = np.repeat(np.stack([lower, upper], axis=1).reshape(-1), 20)
    labels = np.repeat(np.tile([0, 2], n_pairs), 20)
    labels[::7] = 1  # three classes, some noise
    noise = np.random.default_rng(3).normal(size=values.size).astype(np.float32)
    return np.stack([values, noise], axis=1), labels.astype(np.int64)


def rounded_up_splits(model: Any) -> int:
    """Splits whose nearest float32 lies above the double threshold (the risky ones)."""
    stack = [t["tree_structure"] for t in model.booster_.dump_model()["tree_info"]]
    count = 0
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            count += int(float(np.float32(node["threshold"])) > node["threshold"])
            stack.extend((node["left_child"], node["right_child"]))
    return count


PARAMS = {"min_child_samples": 5, "num_leaves": 63, "max_depth": -1, "colsample_bytree": 1.0}


class TestFloat32Thresholds:
    def test_classifier_agrees_on_values_at_rounded_thresholds(self) -> None:
        X, y = adjacent_pairs()
        model = train_lightgbm_classifier(X, y, params=PARAMS, seed=7)
        assert rounded_up_splits(model) > 0  # the case the export must handle is present
        served = OnnxModel(classifier_to_onnx(model, 2)).predict(X)
        native = model.predict_proba(X)
        np.testing.assert_allclose(served, native, atol=1e-5)

    def test_regressor_agrees_on_values_at_rounded_thresholds(self) -> None:
        X, y = adjacent_pairs()
        model = train_lightgbm_regressor(X, y.astype(np.float64), params=PARAMS, seed=7)
        assert rounded_up_splits(model) > 0
        served = np.asarray(OnnxModel(regressor_to_onnx(model, 2)).predict(X)).reshape(-1)
        np.testing.assert_allclose(served, model.predict(X), atol=1e-5)
