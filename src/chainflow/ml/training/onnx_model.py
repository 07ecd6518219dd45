"""Serve an exported model (``chainflow.ml.training.onnx_export``) with ONNX Runtime on the CPU.

One ``onnxruntime.InferenceSession`` per model, created at construction and reused for every
call (sessions are thread-safe for ``run``). The batched path is ``predict`` on a stacked
``(n_symbols, n_features)`` matrix: one session call scores every symbol, which costs little
more than scoring one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import onnxruntime
from numpy.typing import ArrayLike, NDArray

from chainflow.core.errors import InvalidInput
from chainflow.ml.errors import FeatureShapeError, InvalidModelError

PROBABILITIES_OUTPUT = "probabilities"


class OnnxModel:
    """A loaded ONNX model: a classifier (probabilities ``(n, 3)``) or a regressor (``(n,)``)."""

    def __init__(self, onnx_bytes: bytes, *, threads: int = 1) -> None:
        if threads < 1:
            raise InvalidInput(f"expected threads >= 1; received {threads}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = onnxruntime.InferenceSession(
                onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ORT raises several pybind error types for a bad model
            raise InvalidModelError(
                f"expected ONNX model bytes ONNX Runtime can load; received {len(onnx_bytes)} "
                f"bytes that failed with: {e}"
            ) from e
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 2 or inputs[0].type != "tensor(float)":
            received = [(i.name, i.type, i.shape) for i in inputs]
            raise InvalidModelError(
                f"expected one float32 input of shape [None, n_features]; received {received}"
            )
        width = inputs[0].shape[1]
        if not isinstance(width, int):
            raise InvalidModelError(
                f"expected a fixed feature width in the input shape; received {inputs[0].shape}"
            )
        self.input_name: str = inputs[0].name
        self.n_features: int = width
        self.outputs: tuple[str, ...] = tuple(output.name for output in self._session.get_outputs())
        self.output_name: str = (
            PROBABILITIES_OUTPUT if PROBABILITIES_OUTPUT in self.outputs else self.outputs[0]
        )
        model_metadata = self._session.get_modelmeta()
        self.metadata: Mapping[str, str] = MappingProxyType(
            dict(model_metadata.custom_metadata_map)
        )
        self.doc_string: str = model_metadata.description

    def predict(self, X: ArrayLike) -> NDArray[np.float32]:
        """Score a ``(n, n_features)`` matrix: ``(n, n_classes)`` probabilities or ``(n,)``."""
        features = np.ascontiguousarray(X, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            received = (
                f"(n, {features.shape[1]})" if features.ndim == 2 else f"shape {features.shape}"
            )
            raise FeatureShapeError(
                f"expected (n, {self.n_features}) features; received {received}",
                details={"expected_features": self.n_features, "shape": list(features.shape)},
            )
        (result,) = self._session.run([self.output_name], {self.input_name: features})
        scores = np.asarray(result, dtype=np.float32)
        if scores.ndim == 2 and scores.shape[1] == 1:
            return scores[:, 0]
        return scores

    def predict_one(self, vector: ArrayLike) -> NDArray[np.float32] | float:
        """Score one ``(n_features,)`` vector: ``(n_classes,)`` probabilities or a float."""
        features = np.asarray(vector, dtype=np.float32)
        if features.ndim != 1:
            raise FeatureShapeError(
                f"expected ({self.n_features},) features; received shape {features.shape}",
                details={"expected_features": self.n_features, "shape": list(features.shape)},
            )
        scores = self.predict(features.reshape(1, -1))
        if scores.ndim == 1:
            return float(scores[0])
        return scores[0]
