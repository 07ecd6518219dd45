"""The bridge's per-tenant broker symbol aliases (``EURUSD.m`` -> ``EURUSD``), with RLS.

Revision ID: 0003_symbol_aliases
Revises: 0002_users
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0003_symbol_aliases"
down_revision: str | Sequence[str] | None = "0002_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "symbol_aliases",
        sa.Column("alias", sa.String(length=40), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_symbol_aliases")),
        sa.UniqueConstraint("tenant_id", "alias", name=op.f("uq_symbol_aliases_tenant_id_alias")),
    )
    op.create_index(
        op.f("ix_symbol_aliases_tenant_id"), "symbol_aliases", ["tenant_id"], unique=False
    )
    enable_tenant_rls(op, "symbol_aliases")


def downgrade() -> None:
    disable_tenant_rls(op, "symbol_aliases")
    op.drop_index(op.f("ix_symbol_aliases_tenant_id"), table_name="symbol_aliases")
    op.drop_table("symbol_aliases")
