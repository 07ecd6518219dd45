"""The ml service's relational tables: the model registry.

``ml_models`` holds one row per registered model version. ``tenant_id`` is NULL for a
platform model every tenant may use, and set for an enterprise tenant's custom model that
only that tenant sees. The table is queried only through ``ml.repository``; on PostgreSQL
RLS (migration ``0004_ml_models``) lets every tenant read platform rows but write none,
and keeps tenant rows to their tenant.

Uniqueness treats the platform as one owner: the indexes are on ``coalesce(tenant_id,
'')``, because a plain unique constraint never matches two NULLs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, LargeBinary, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TimestampMixin
from chainflow.storage.relational.base import ID_LENGTH, TENANT_KEY_INFO

MODEL_NAME_LENGTH = 64
PLATFORM_OWNER_KEY = ""  # what coalesce(tenant_id, '') yields for a platform model
PRODUCTION_STAGE = "production"


class MlModel(Base, IdMixin, TimestampMixin):
    """One version of a trained model, its training provenance, metrics and artifact."""

    __tablename__ = "ml_models"

    # Nullable on purpose (a platform model), so not ``TenantOwned``; the info flag still
    # lists the table among the tenant tables whose RLS the migration test checks.
    tenant_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), nullable=True, index=True, info={TENANT_KEY_INFO: True}
    )
    name: Mapped[str] = mapped_column(String(MODEL_NAME_LENGTH), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    family: Mapped[str] = mapped_column(String(32), nullable=False)
    feature_set: Mapped[str] = mapped_column(String(100), nullable=False)
    feature_set_fingerprint: Mapped[str] = mapped_column(String(128), nullable=False)
    label: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    symbols: Mapped[list[Any]] = mapped_column(nullable=False)
    timeframe: Mapped[str] = mapped_column(String(8), nullable=False)
    train_from_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    train_to_ts: Mapped[int] = mapped_column(BigInteger, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    artifact_path: Mapped[str] = mapped_column(String(1000), nullable=False)
    artifact_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    artifact_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    stage: Mapped[str] = mapped_column(String(16), nullable=False)
    promoted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Set when a promotion overrode the gate (migration 0020): reason, by, at, verdict.
    promotion_override: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index(
            "uq_ml_models_owner_name_version",
            func.coalesce(tenant_id, text("''")),
            name,
            version,
            unique=True,
        ),
        # At most one production version per (owner, name); the registry also checks it
        # inside the transaction, this is the backstop against a concurrent promote.
        Index(
            "uq_ml_models_owner_name_production",
            func.coalesce(tenant_id, text("''")),
            name,
            unique=True,
            postgresql_where=text("stage = 'production'"),
            sqlite_where=text("stage = 'production'"),
        ),
    )


class MlArtifact(Base):
    """A model artifact kept in the relational database (``CHAINFLOW_ML_ARTIFACTS_URL=database``),
    so every process of a scaled deployment reads the same bytes. Keyed by its store path."""

    __tablename__ = "ml_artifacts"

    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
