"""Values of the model registry: stages, families, versions, summaries.

Kept apart from ``model_registry`` (the logic) so that routes, the CLI and other services' code
can name them through ``chainflow.ml.api`` without the repository behind the logic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ModelStage(StrEnum):
    CANDIDATE = "candidate"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class ModelFamily(StrEnum):
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    SKLEARN = "sklearn"
    LSTM = "lstm"
    CNN = "cnn"
    ENSEMBLE = "ensemble"


DEEP_FAMILIES = frozenset({ModelFamily.LSTM, ModelFamily.CNN, ModelFamily.ENSEMBLE})


class VerdictStatus(StrEnum):
    """What a version's training verdict says (``chainflow.ml.registry.promotion_gate``)."""

    PASSED = "passed"  # beats every baseline of its traded target, significantly
    FAILED = "failed"
    UNKNOWN = "unknown"  # no verdict recorded (registered before verdicts were kept)


# --- values ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelRegistration:
    """What training hands the registry besides the artifact bytes."""

    name: str
    family: str
    feature_set: str
    feature_set_fingerprint: str
    label: Mapping[str, Any]
    symbols: Sequence[str]
    timeframe: str
    train_from_ts: int
    train_to_ts: int
    metrics: Mapping[str, Any] = field(default_factory=dict)
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class ModelVerdict:
    """A version's verdict as the promotion gate reads it, with its plain sentence."""

    status: VerdictStatus
    sentence: str

    @property
    def passed(self) -> bool:
        return self.status == VerdictStatus.PASSED


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model; ``tenant_id`` is None for a platform model."""

    id: str
    tenant_id: str | None
    name: str
    version: int
    family: str
    feature_set: str
    feature_set_fingerprint: str
    label: dict[str, Any]
    symbols: tuple[str, ...]
    timeframe: str
    train_from_ts: int
    train_to_ts: int
    metrics: dict[str, Any]
    artifact_path: str
    artifact_sha256: str
    artifact_bytes: int
    stage: ModelStage
    created_at: datetime
    promoted_at: datetime | None
    archived_at: datetime | None
    created_by: str | None
    promotion_override: dict[str, Any] | None = None  # a forced promotion: reason, by, at

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    @property
    def ref(self) -> str:
        """Return ``name@version``, as signal frames name the model that produced them."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """One model name and where its versions stand."""

    name: str
    tenant_id: str | None
    family: str
    latest_version: int
    production_version: int | None
    version_count: int
    production_verdict: ModelVerdict | None = None  # the production version's
    production_override: dict[str, Any] | None = None  # the production version's, if forced
