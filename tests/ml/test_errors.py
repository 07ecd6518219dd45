"""The ml service's errors: typed, with their wire codes, and still ``ValueError``s where the
training maths, labels and pattern detectors document one (issue 22, point 5)."""

from __future__ import annotations

import numpy as np
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from chainflow.core.errors import ChainflowError, InvalidInput, NotFound
from chainflow.ml import api
from chainflow.ml.errors import (
    IncompatibleModelError,
    InsufficientDataError,
    InvalidMlInputError,
    InvalidModelError,
    ModelExportMismatchError,
    ModelNotFoundError,
)
from chainflow.ml.patterns.anomalies import IsolationForestDetector, robust_zscore
from chainflow.ml.training.bundle import combine_models
from chainflow.ml.training.labels import LabelSpec
from chainflow.ml.training.splits import purged_walk_forward


def _classifier(width: int) -> bytes:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, width)).astype(np.float32)
    y = np.arange(60) % 3
    model = LogisticRegression(max_iter=300).fit(X, y)
    return to_onnx(model, X[:1], options={"zipmap": False}).SerializeToString()


class TestInputErrors:
    def test_a_bad_training_parameter_is_invalid_input_and_a_value_error(self) -> None:
        with pytest.raises(InvalidMlInputError, match="expected kind among") as caught:
            LabelSpec(kind="nope", horizon=5, threshold_atr=0.5)  # type: ignore[arg-type]
        assert isinstance(caught.value, InvalidInput) and isinstance(caught.value, ValueError)
        assert caught.value.code == "ml_input_invalid" and caught.value.status == 422
        assert caught.value.to_payload()["error"]["message"].startswith("expected kind among")

    def test_a_bad_pattern_parameter_is_typed(self) -> None:
        with pytest.raises(InvalidMlInputError, match="expected window to be an integer >= 2"):
            robust_zscore(np.arange(10.0), 1)
        with pytest.raises(InvalidMlInputError, match="contamination"):
            IsolationForestDetector(contamination=0.9)

    def test_too_few_rows_for_the_folds_is_insufficient_data(self) -> None:
        ts = np.arange(6, dtype=np.int64)
        with pytest.raises(InsufficientDataError, match="expected at least") as caught:
            purged_walk_forward(ts, ts, n_folds=5)
        assert isinstance(caught.value, InvalidMlInputError)
        assert isinstance(caught.value, ValueError)
        assert caught.value.code == "ml_insufficient_data" and caught.value.status == 422

    def test_a_programming_error_stays_a_runtime_error(self) -> None:
        with pytest.raises(RuntimeError, match="expected a fitted detector") as caught:
            IsolationForestDetector().score(np.zeros((2, 2)))
        assert not isinstance(caught.value, ChainflowError)


class TestModelErrors:
    def test_bundle_parts_of_different_widths_are_an_incompatible_model(self) -> None:
        parts = {"a": (_classifier(3), "probabilities"), "b": (_classifier(4), "probabilities")}
        with pytest.raises(IncompatibleModelError, match="expected every part") as caught:
            combine_models(parts)
        assert isinstance(caught.value, InvalidModelError) and isinstance(caught.value, ValueError)
        assert caught.value.code == "model_incompatible" and caught.value.status == 422

    def test_an_export_mismatch_is_a_server_error_and_a_runtime_error(self) -> None:
        error = ModelExportMismatchError("expected the ONNX bundle to match")
        assert isinstance(error, RuntimeError)
        assert error.code == "model_export_mismatch" and error.status == 500


class TestImportPaths:
    def test_the_api_names_the_errors_module_classes(self) -> None:
        assert api.ModelNotFoundError is ModelNotFoundError
        assert issubclass(api.ArtifactMissingError, NotFound)
        assert api.ModelNotFoundError.code == "model_not_found"
