"""The model families ``chainflow train`` knows: how each fits, predicts and exports.

Every family answers the same three questions on a dataset's rows, so the training loop
(``chainflow.ml.training.run``) treats them alike:

- ``fit(inputs, y, seed)`` → a fitted classifier (3 classes: down, flat, up);
- ``predict(model, inputs)`` → ``(n, 3)`` probabilities;
- ``export(model)`` → ONNX bytes whose input is ``features`` and output ``probabilities``.

Gradient boosting takes one vector per row (``window == 1``); the LSTM and the CNN take
the window of the last ``window`` vectors. PyTorch is imported only when a sequence family
is used (the ``train`` extra); serving needs only ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.core.errors import InvalidInput
from chainflow.ml.training import gbm, onnx_export

SEQUENCE_WINDOW = 32
GBM_FAMILIES = ("xgboost", "lightgbm")
SEQUENCE_FAMILIES = ("lstm", "cnn")
FAMILIES = (*GBM_FAMILIES, *SEQUENCE_FAMILIES, "ensemble")


@dataclass(frozen=True, slots=True)
class Family:
    """One trainable model family."""

    name: str
    window: int
    fit: Callable[[NDArray[Any], NDArray[np.int64], int], Any]
    predict: Callable[[Any, NDArray[Any]], NDArray[np.float64]]
    export: Callable[[Any, int], bytes]  # (model, n_features) -> ONNX


def family(name: str, *, threads: int = 2, max_seconds: float | None = None) -> Family:
    """Return the family ``name``; raise ``InvalidInput`` for an unknown or unavailable one."""
    if name in GBM_FAMILIES:
        train = {
            "xgboost": gbm.train_xgboost_classifier,
            "lightgbm": gbm.train_lightgbm_classifier,
        }[name]
        return Family(
            name,
            1,
            fit=lambda X, y, seed: train(X, y, seed=seed, n_threads=threads),
            predict=_gbm_predict,
            export=lambda model, k: onnx_export.classifier_to_onnx(model, k),
        )
    if name in SEQUENCE_FAMILIES:
        sequence = _sequence_module(name)
        train_sequence = (
            sequence.train_lstm_classifier if name == "lstm" else sequence.train_cnn_classifier
        )
        return Family(
            name,
            SEQUENCE_WINDOW,
            fit=lambda X, y, seed: train_sequence(
                X, y, seed=seed, num_threads=threads, max_seconds=max_seconds
            ),
            predict=lambda model, X: np.asarray(sequence.predict_proba(model, X), dtype=np.float64),
            export=lambda model, k: sequence.sequence_to_onnx(model, SEQUENCE_WINDOW, k),
        )
    raise InvalidInput(f"expected a model family among {', '.join(FAMILIES)}; received {name!r}")


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _sequence_module(name: str) -> Any:
    try:
        from chainflow.ml.training import sequence_models
    except ImportError as exc:
        raise InvalidInput(
            f"expected PyTorch for the {name} family (pip install 'chainflow[train]', which "
            f"pins the CPU build torch==2.13.0); received: {exc}"
        ) from exc
    return sequence_models


def _gbm_predict(model: Any, X: NDArray[Any]) -> NDArray[np.float64]:
    return np.asarray(model.predict_proba(np.asarray(X, dtype=np.float32)), dtype=np.float64)
