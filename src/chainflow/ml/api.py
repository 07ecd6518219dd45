"""Public interface of the ml service: what other services and the runtime may import."""

from __future__ import annotations

from chainflow.ml.artifacts import (
    ArtifactIntegrityError,
    ArtifactMissingError,
    ArtifactStore,
    LocalArtifactStore,
    StoredArtifact,
)
from chainflow.ml.events import PredictionMade, all_predictions, predictions_topic
from chainflow.ml.registry import ModelRegistry
from chainflow.ml.registry_types import (
    CustomModelLimitError,
    CustomModelsNotInTierError,
    ModelFamily,
    ModelNotFoundError,
    ModelRegistration,
    ModelStage,
    ModelStageConflictError,
    ModelSummary,
    ModelVersion,
    PlatformModelChangeDeniedError,
)

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "ArtifactStore",
    "CustomModelLimitError",
    "CustomModelsNotInTierError",
    "LocalArtifactStore",
    "ModelFamily",
    "ModelNotFoundError",
    "ModelRegistration",
    "ModelRegistry",
    "ModelStage",
    "ModelStageConflictError",
    "ModelSummary",
    "ModelVersion",
    "PlatformModelChangeDeniedError",
    "PredictionMade",
    "StoredArtifact",
    "all_predictions",
    "predictions_topic",
]
