"""Analytics: each user's scheduled performance report setting and schedule state (RLS).

Revision ID: 0018_analytics_reports
Revises: 0017_notify_security_terminals
Create Date: 2026-12-14

Chained after 0020 because that file already sat on 0017 when this one was written (two
children of 0017 would leave two heads); the integrator orders the chain.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0018_analytics_reports"
down_revision: str | Sequence[str] | None = "0017_notify_security_terminals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "analytics_report_subscriptions"
DUE_INDEX = "ix_analytics_report_subscriptions_next_due_at"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("sent_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("tenant_id", "user_id", name=op.f(f"uq_{TABLE}_tenant_id_user_id")),
    )
    op.create_index(op.f(f"ix_{TABLE}_tenant_id"), TABLE, ["tenant_id"])
    op.create_index(DUE_INDEX, TABLE, ["next_due_at"])
    enable_tenant_rls(op, TABLE)


def downgrade() -> None:
    disable_tenant_rls(op, TABLE)
    op.drop_index(DUE_INDEX, table_name=TABLE)
    op.drop_index(op.f(f"ix_{TABLE}_tenant_id"), table_name=TABLE)
    op.drop_table(TABLE)
