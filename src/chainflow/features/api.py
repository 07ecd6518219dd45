"""Public interface of feature engineering: what other services may import."""

from __future__ import annotations

from chainflow.features.engine import BarValues, FeatureEngine
from chainflow.features.events import FeaturesComputed, all_feature_vectors, features_topic
from chainflow.features.feature_table import StoredVector, read_recent_vectors
from chainflow.features.matrix import feature_matrix
from chainflow.features.pipeline import PipelineOutput, SymbolPipeline, bar_values
from chainflow.features.regimes import RegimeConfig, RegimeDetector, RegimeState
from chainflow.features.replay import Replayed, bar_of, replayed, stored_bar_columns
from chainflow.features.routes import build_features_router
from chainflow.features.service import FeaturesService
from chainflow.features.sets import (
    FEATURE_SETS,
    FeatureSet,
    FeatureSetMismatch,
    get_feature_set,
)
from chainflow.features.stream.volatility import ATR

__all__ = [
    "ATR",
    "FEATURE_SETS",
    "BarValues",
    "FeatureEngine",
    "FeatureSet",
    "FeatureSetMismatch",
    "FeaturesComputed",
    "FeaturesService",
    "PipelineOutput",
    "RegimeConfig",
    "RegimeDetector",
    "RegimeState",
    "Replayed",
    "StoredVector",
    "SymbolPipeline",
    "all_feature_vectors",
    "bar_of",
    "bar_values",
    "build_features_router",
    "feature_matrix",
    "features_topic",
    "get_feature_set",
    "read_recent_vectors",
    "replayed",
    "stored_bar_columns",
]
