"""Billing: a superadmin's price overrides of the plan table (platform-wide, no RLS).

Revision ID: 0016_plan_price_overrides
Revises: 0015_notify_digests
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_plan_price_overrides"
down_revision: str | Sequence[str] | None = "0015_notify_digests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRICES = "billing_plan_prices"


def upgrade() -> None:
    op.create_table(
        PRICES,
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("price_idr", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{PRICES}")),
        sa.UniqueConstraint("plan", "period", name=op.f(f"uq_{PRICES}_plan_period")),
    )


def downgrade() -> None:
    op.drop_table(PRICES)
