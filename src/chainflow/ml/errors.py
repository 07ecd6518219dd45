"""The ml service's errors, each with its wire code and HTTP status.

Imports nothing from the ml sub-packages, so that every one of them (registry, training,
live, patterns, routes, cli) can import it. Other services name these through
``chainflow.ml.api``.

The input errors are also ``ValueError``s: the training maths, the pattern detectors and the
label and dataset value types document ``ValueError`` for bad input, and their callers (the
``chainflow train`` command among them) catch it.
"""

from __future__ import annotations

from chainflow.core.errors import (
    ChainflowError,
    Conflict,
    FeatureNotInTierError,
    InvalidInput,
    NotFound,
    PermissionDeniedError,
    TierLimitExceeded,
)

# --- input -----------------------------------------------------------------------------


class InvalidMlInputError(InvalidInput, ValueError):
    """A parameter or array the training maths, labels, splits, metrics or pattern detectors
    cannot work with (a non-positive window, a shape mismatch, NaN, labels out of range)."""

    code = "ml_input_invalid"


class InsufficientDataError(InvalidMlInputError):
    """Too few bars or rows for what was asked (folds, a calibration split, a window model):
    a longer history or fewer folds fixes it."""

    code = "ml_insufficient_data"


class FeatureShapeError(InvalidInput):
    """The feature matrix does not have the width the model was trained on."""

    code = "feature_shape_mismatch"


class InvalidModelError(InvalidInput):
    """The bytes are not a model ONNX Runtime can load, or not one with a 2-D float input."""

    code = "invalid_model"


class IncompatibleModelError(InvalidModelError, ValueError):
    """A model, or a part of a bundle or ensemble, whose inputs or outputs do not fit where it
    is put (a different feature width or window, a missing output, an opset it cannot be
    converted to)."""

    code = "model_incompatible"


# --- training ---------------------------------------------------------------------------


class ModelExportMismatchError(ChainflowError, RuntimeError):
    """The exported ONNX bundle does not reproduce the trained model's predictions: the export
    is wrong, not the input, so nothing is registered.

    Also a ``RuntimeError``, as training raised before it had its own class."""

    code = "model_export_mismatch"
    status = 500


# --- registry ---------------------------------------------------------------------------


class ModelNotFoundError(NotFound):
    code = "model_not_found"


class ModelStageConflictError(Conflict):
    """The version is not in a stage the requested transition starts from."""

    code = "model_stage_conflict"


class ModelPromotionRefusedError(Conflict):
    """The version's verdict does not say it beats its baselines (or it has none), and the
    promotion was not forced with a reason (``chainflow.ml.registry.promotion_gate``)."""

    code = "promotion_refused"


class CustomModelsNotInTierError(FeatureNotInTierError):
    """Custom models asked for on a tier without them (upgrade)."""


class CustomModelLimitError(TierLimitExceeded):
    code = "custom_model_limit"


class PlatformModelChangeDeniedError(PermissionDeniedError):
    """Only a superadmin changes a platform model."""


# --- artifacts --------------------------------------------------------------------------


class ArtifactIntegrityError(ChainflowError):
    """A stored artifact is not the file that was registered (changed, truncated, replaced)."""

    code = "artifact_integrity_error"
    status = 500


class ArtifactMissingError(NotFound):
    code = "artifact_missing"
