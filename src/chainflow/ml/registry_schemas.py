"""Wire models of ``/api/v1/models`` (DESIGN.md section 4).

``owner`` says whose model a row is: ``platform`` (usable by every tenant) or ``tenant``
(the caller's own custom model). The artifact's location stays server-side; its SHA-256
and size are shown so that a client can tell two versions' files apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from chainflow.ml.registry_types import ModelSummary, ModelVersion

Owner = Literal["platform", "tenant"]


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
        )


class ModelSummaryOut(BaseModel):
    name: str
    owner: Owner
    family: str
    latest_version: int
    production_version: int | None
    version_count: int

    @classmethod
    def of(cls, summary: ModelSummary) -> ModelSummaryOut:
        return cls(
            name=summary.name,
            owner="platform" if summary.tenant_id is None else "tenant",
            family=summary.family,
            latest_version=summary.latest_version,
            production_version=summary.production_version,
            version_count=summary.version_count,
        )


class ModelsOut(BaseModel):
    items: list[ModelSummaryOut]


class ModelVersionsOut(BaseModel):
    name: str
    owner: Owner
    items: list[ModelVersionOut]
