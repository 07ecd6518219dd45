"""Public interface of the ml service: what other services and the runtime may import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chainflow.ml.artifacts import (
    ArtifactIntegrityError,
    ArtifactMissingError,
    ArtifactStore,
    LocalArtifactStore,
    StoredArtifact,
)
from chainflow.ml.events import PredictionMade, all_predictions, predictions_topic
from chainflow.ml.fallback_log import Fallback, FallbackLog
from chainflow.ml.model_cache import ServedModel, ServedModels
from chainflow.ml.model_hint import no_model_reason, train_model_command
from chainflow.ml.oos_backtest import SignalBacktester, SignalWindow, WindowOutcome
from chainflow.ml.registry import ModelRegistry, model_registry
from chainflow.ml.registry_types import (
    CustomModelLimitError,
    CustomModelsNotInTierError,
    ModelFamily,
    ModelNotFoundError,
    ModelPromotionRefusedError,
    ModelRegistration,
    ModelStage,
    ModelStageConflictError,
    ModelSummary,
    ModelVerdict,
    ModelVersion,
    PlatformModelChangeDeniedError,
    VerdictStatus,
)
from chainflow.ml.serving import BundleOutput, ModelBundle

if TYPE_CHECKING:
    from chainflow.ml.window_model import WindowModel

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "ArtifactStore",
    "BundleOutput",
    "CustomModelLimitError",
    "CustomModelsNotInTierError",
    "Fallback",
    "FallbackLog",
    "LocalArtifactStore",
    "ModelBundle",
    "ModelFamily",
    "ModelNotFoundError",
    "ModelPromotionRefusedError",
    "ModelRegistration",
    "ModelRegistry",
    "ModelStage",
    "ModelStageConflictError",
    "ModelSummary",
    "ModelVerdict",
    "ModelVersion",
    "PlatformModelChangeDeniedError",
    "PredictionMade",
    "ServedModel",
    "ServedModels",
    "SignalBacktester",
    "SignalWindow",
    "StoredArtifact",
    "VerdictStatus",
    "WindowOutcome",
    "all_predictions",
    "model_registry",
    "no_model_reason",
    "predictions_topic",
    "train_model_command",
    "train_window_model",
]


def train_window_model(**bars_and_settings: Any) -> WindowModel:
    """Fit a light XGBoost bundle on one window of bars (walk-forward retraining); see
    ``chainflow.ml.window_model``. Imported on call: it loads XGBoost and ONNX."""
    from chainflow.ml.window_model import train_window_model as train

    return train(**bars_and_settings)
