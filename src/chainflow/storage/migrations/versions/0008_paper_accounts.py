"""The trading service's paper accounts, one document per tenant, with RLS.

Revision ID: 0008_paper_accounts
Revises: 0007_backtest_jobs
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0008_paper_accounts"
down_revision: str | Sequence[str] | None = "0007_backtest_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "paper_accounts"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_accounts")),
    )
    op.create_index(op.f("ix_paper_accounts_tenant_id"), TABLE, ["tenant_id"], unique=False)
    enable_tenant_rls(op, TABLE)


def downgrade() -> None:
    disable_tenant_rls(op, TABLE)
    op.drop_index(op.f("ix_paper_accounts_tenant_id"), table_name=TABLE)
    op.drop_table(TABLE)
