"""The trading service's issued signals, per tenant, with RLS.

Revision ID: 0006_signals
Revises: 0005_ml_artifacts
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0006_signals"
down_revision: str | Sequence[str] | None = "0005_ml_artifacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "signals"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("timeframe", sa.String(length=8), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("size", sa.Float(), nullable=False),
        sa.Column("stop_loss", sa.Float(), nullable=True),
        sa.Column("take_profit", sa.Float(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    op.create_index(op.f("ix_signals_tenant_id"), TABLE, ["tenant_id"], unique=False)
    op.create_index(
        "ix_signals_tenant_id_symbol_ts", TABLE, ["tenant_id", "symbol", "ts"], unique=False
    )
    enable_tenant_rls(op, TABLE)


def downgrade() -> None:
    disable_tenant_rls(op, TABLE)
    op.drop_index("ix_signals_tenant_id_symbol_ts", table_name=TABLE)
    op.drop_index(op.f("ix_signals_tenant_id"), table_name=TABLE)
    op.drop_table(TABLE)
