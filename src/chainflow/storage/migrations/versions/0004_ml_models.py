"""The ml service's model registry, ``ml_models``, with RLS for platform and tenant rows.

A row with ``tenant_id`` NULL is a platform model: every tenant may read it, only a
``system=True`` unit of work may write it. A row with a ``tenant_id`` is a tenant's custom
model, as private as any tenant table. On top of the standard ``tenant_isolation`` policy
(``storage.relational.rls``) a second, SELECT-only policy admits the platform rows;
PostgreSQL ORs permissive policies per command, so INSERT, UPDATE and DELETE still see the
tenant's own rows only.

Revision ID: 0004_ml_models
Revises: 0003_symbol_aliases
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0004_ml_models"
down_revision: str | Sequence[str] | None = "0003_symbol_aliases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ml_models"
PLATFORM_READ_POLICY = "platform_models_readable"
OWNER = sa.text("coalesce(tenant_id, '')")


def _at(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("feature_set", sa.String(length=100), nullable=False),
        sa.Column("feature_set_fingerprint", sa.String(length=128), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("symbols", sa.JSON(), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("train_from_ts", sa.BigInteger(), nullable=False),
        sa.Column("train_to_ts", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact_path", sa.String(length=1000), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.Column("artifact_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        _at("promoted_at", nullable=True),
        _at("archived_at", nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ml_models")),
    )
    op.create_index(op.f("ix_ml_models_tenant_id"), TABLE, ["tenant_id"], unique=False)
    op.create_index(
        "uq_ml_models_owner_name_version", TABLE, [OWNER, "name", "version"], unique=True
    )
    production_only = sa.text("stage = 'production'")
    op.create_index(
        "uq_ml_models_owner_name_production",
        TABLE,
        [OWNER, "name"],
        unique=True,
        postgresql_where=production_only,
        sqlite_where=production_only,
    )
    enable_tenant_rls(op, TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP POLICY IF EXISTS {PLATFORM_READ_POLICY} ON {TABLE}")
        op.execute(
            f"CREATE POLICY {PLATFORM_READ_POLICY} ON {TABLE} FOR SELECT USING (tenant_id IS NULL)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP POLICY IF EXISTS {PLATFORM_READ_POLICY} ON {TABLE}")
    disable_tenant_rls(op, TABLE)
    op.drop_index("uq_ml_models_owner_name_production", table_name=TABLE)
    op.drop_index("uq_ml_models_owner_name_version", table_name=TABLE)
    op.drop_index(op.f("ix_ml_models_tenant_id"), table_name=TABLE)
    op.drop_table(TABLE)
