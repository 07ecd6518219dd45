"""A served model: one ONNX bundle, one ONNX Runtime session, batched across symbols.

The bundle (``chainflow.ml.training.bundle``) takes ``features`` — ``[n, k]`` vectors, or ``[n,
window, k]`` windows for sequence models and ensembles that hold one — and answers class
probabilities (down, flat, up), the expected volatility over the label horizon and a
momentum score (expected move in ATR units). The session is created once; ``predict`` on a
stacked batch (one row per symbol that is due) is the batched path.

A bundle trained with ``--calibrate`` carries its calibration map in its metadata
(``chainflow.ml.training.calibration``); ``predict`` applies it to the probabilities right after
ONNX Runtime, so every caller (live scoring, backtests, the training parity check) gets
the calibrated probabilities from the one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import onnxruntime
from numpy.typing import ArrayLike, NDArray

from chainflow.core.errors import InvalidInput
from chainflow.ml.training.calibration import METADATA_KEY as CALIBRATION_KEY
from chainflow.ml.training.calibration import Calibrator

OUTPUTS = ("probabilities", "volatility", "momentum")


@dataclass(frozen=True, slots=True)
class BundleOutput:
    probabilities: NDArray[np.float32]  # (n, 3): down, flat, up
    volatility: NDArray[np.float32]  # (n,)
    momentum: NDArray[np.float32]  # (n,)


class ModelBundle:
    """An ONNX model bundle loaded for serving."""

    def __init__(self, onnx_bytes: bytes, *, threads: int = 1) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises several pybind error types for a bad model
            message = f"expected an ONNX model bundle; received bytes that fail: {exc}"
            raise InvalidInput(message) from exc
        (model_input,) = self._session.get_inputs()
        outputs = tuple(o.name for o in self._session.get_outputs())
        if outputs != OUTPUTS:
            raise InvalidInput(f"expected a bundle with outputs {OUTPUTS}; received {outputs}")
        shape = model_input.shape
        self.input_name: str = model_input.name
        self.window: int = int(shape[1]) if len(shape) == 3 else 1
        self.n_features: int = int(shape[-1])
        meta = self._session.get_modelmeta().custom_metadata_map
        self.metadata: Mapping[str, str] = MappingProxyType(dict(meta))
        calibration = meta.get(CALIBRATION_KEY)
        self.calibrator = None if calibration is None else Calibrator.from_json(calibration)

    def predict(self, features: ArrayLike) -> BundleOutput:
        """Score a batch: ``(n, k)`` vectors, or ``(n, window, k)`` windows."""
        batch = np.ascontiguousarray(features, dtype=np.float32)
        expected = (self.window, self.n_features) if self.window > 1 else (self.n_features,)
        if batch.ndim != len(expected) + 1 or batch.shape[1:] != expected:
            raise InvalidInput(
                f"expected features of shape (n, {', '.join(map(str, expected))}); "
                f"received {batch.shape}"
            )
        probabilities, volatility, momentum = self._session.run(None, {self.input_name: batch})
        if self.calibrator is not None:
            probabilities = self.calibrator.apply(probabilities).astype(np.float32)
        return BundleOutput(
            probabilities=probabilities,
            volatility=np.asarray(volatility).reshape(-1),
            momentum=np.asarray(momentum).reshape(-1),
        )
