"""Wire models of ``/api/v1/models`` (DESIGN.md section 4).

``owner`` says whose model a row is: ``platform`` (usable by every tenant) or ``tenant``
(the caller's own custom model). ``verdict`` is what the version's training verdict says
(``passed``, ``failed`` or ``unknown``, with its sentence) and ``promotion_override`` who
promoted it against that verdict and why (``chainflow.ml.registry.promotion_gate``). The artifact's
location stays server-side; its SHA-256 and size are shown so that a client can tell two
versions' files apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from chainflow.ml.registry.promotion_gate import MAX_REASON_LENGTH, verdict_of
from chainflow.ml.registry.types import ModelSummary, ModelVerdict, ModelVersion

Owner = Literal["platform", "tenant"]


class VerdictOut(BaseModel):
    status: Literal["passed", "failed", "unknown"]
    sentence: str

    @classmethod
    def of(cls, verdict: ModelVerdict) -> VerdictOut:
        return cls(status=verdict.status.value, sentence=verdict.sentence)


class PromotionOverrideOut(BaseModel):
    """A promotion forced against the version's verdict."""

    reason: str
    by: str | None = None
    at: datetime
    verdict: Literal["failed", "unknown"]
    sentence: str


class PromoteIn(BaseModel):
    """Optional body of the promote route: ``force`` past the gate, with a ``reason``."""

    force: bool = False
    reason: str | None = Field(default=None, max_length=MAX_REASON_LENGTH)


class ModelVersionOut(BaseModel):
    id: str
    name: str
    version: int
    ref: str
    owner: Owner
    family: str
    stage: Literal["candidate", "production", "archived"]
    feature_set: str
    feature_set_fingerprint: str
    label: dict[str, Any]
    symbols: list[str]
    timeframe: str
    train_from_ts: int
    train_to_ts: int
    metrics: dict[str, Any]
    artifact_sha256: str
    artifact_bytes: int
    created_at: datetime
    promoted_at: datetime | None
    archived_at: datetime | None
    created_by: str | None
    verdict: VerdictOut
    promotion_override: PromotionOverrideOut | None

    @classmethod
    def of(cls, model: ModelVersion) -> ModelVersionOut:
        return cls(
            id=model.id,
            name=model.name,
            version=model.version,
            ref=model.ref,
            owner="platform" if model.is_platform else "tenant",
            family=model.family,
            stage=model.stage.value,
            feature_set=model.feature_set,
            feature_set_fingerprint=model.feature_set_fingerprint,
            label=model.label,
            symbols=list(model.symbols),
            timeframe=model.timeframe,
            train_from_ts=model.train_from_ts,
            train_to_ts=model.train_to_ts,
            metrics=model.metrics,
            artifact_sha256=model.artifact_sha256,
            artifact_bytes=model.artifact_bytes,
            created_at=model.created_at,
            promoted_at=model.promoted_at,
            archived_at=model.archived_at,
            created_by=model.created_by,
            verdict=VerdictOut.of(verdict_of(model.metrics)),
            promotion_override=_override(model.promotion_override),
        )


class ModelSummaryOut(BaseModel):
    name: str
    owner: Owner
    family: str
    latest_version: int
    production_version: int | None
    version_count: int
    production_verdict: VerdictOut | None
    production_override: PromotionOverrideOut | None

    @classmethod
    def of(cls, summary: ModelSummary) -> ModelSummaryOut:
        return cls(
            name=summary.name,
            owner="platform" if summary.tenant_id is None else "tenant",
            family=summary.family,
            latest_version=summary.latest_version,
            production_version=summary.production_version,
            version_count=summary.version_count,
            production_verdict=(
                None
                if summary.production_verdict is None
                else VerdictOut.of(summary.production_verdict)
            ),
            production_override=_override(summary.production_override),
        )


class ModelVersionsOut(BaseModel):
    name: str
    owner: Owner
    items: list[ModelVersionOut]


def _override(stored: dict[str, Any] | None) -> PromotionOverrideOut | None:
    return None if stored is None else PromotionOverrideOut.model_validate(stored)
