"""Public interface of feature engineering: what other services may import.

Data types and functions only: the service and its router are the runtime's to build
(``runtime.features_wiring`` imports them from ``features.service`` and ``features.routes``),
so importing this module loads neither FastAPI nor SQLAlchemy and the hot path may use it.
"""

from __future__ import annotations

from chainflow.features.engine import FeatureEngine
from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.events import (
    FeaturesComputed,
    all_feature_vectors,
    feature_vectors_of_partition,
    features_topic,
)
from chainflow.features.feature_table import StoredVector, read_recent_vectors
from chainflow.features.matrix import feature_matrix
from chainflow.features.pipeline import Checkpoint, PipelineOutput, SymbolPipeline
from chainflow.features.regimes import RegimeConfig, RegimeDetector, RegimeState
from chainflow.features.replay import Replayed, bar_of, replayed, stored_bar_columns
from chainflow.features.sets import (
    FEATURE_SETS,
    FeatureSet,
    FeatureSetMismatch,
    get_feature_set,
)
from chainflow.features.stream.volatility import ATR

__all__ = [
    "FeatureStateMismatchError",
    "InvalidFeatureInputError",
    "ATR",
    "Checkpoint",
    "FEATURE_SETS",
    "FeatureEngine",
    "FeatureSet",
    "FeatureSetMismatch",
    "FeaturesComputed",
    "PipelineOutput",
    "RegimeConfig",
    "RegimeDetector",
    "RegimeState",
    "Replayed",
    "StoredVector",
    "SymbolPipeline",
    "all_feature_vectors",
    "bar_of",
    "feature_matrix",
    "feature_vectors_of_partition",
    "features_topic",
    "get_feature_set",
    "read_recent_vectors",
    "replayed",
    "stored_bar_columns",
]
