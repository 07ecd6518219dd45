"""The notification hub's delivery outbox and user preferences, with RLS.

Revision ID: 0012_notifications
Revises: 0011_billing
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0012_notifications"
down_revision: str | Sequence[str] | None = "0011_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX = "notification_outbox"
PREFERENCES = "notification_preferences"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def upgrade() -> None:
    op.create_table(
        OUTBOX,
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=255), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        *_timestamps(),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_notification_outbox_tenant_id"), OUTBOX, ["tenant_id"])
    op.create_index(
        "ix_notification_outbox_state_next_attempt_at", OUTBOX, ["state", "next_attempt_at"]
    )
    op.create_index(
        "ix_notification_outbox_tenant_id_user_id_created_at",
        OUTBOX,
        ["tenant_id", "user_id", "created_at"],
    )
    enable_tenant_rls(op, OUTBOX)
    op.create_table(
        PREFERENCES,
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        *_timestamps(),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_preferences")),
        sa.UniqueConstraint("user_id", name=op.f("uq_notification_preferences_user_id")),
    )
    op.create_index(op.f("ix_notification_preferences_tenant_id"), PREFERENCES, ["tenant_id"])
    enable_tenant_rls(op, PREFERENCES)


def downgrade() -> None:
    disable_tenant_rls(op, PREFERENCES)
    op.drop_index(op.f("ix_notification_preferences_tenant_id"), table_name=PREFERENCES)
    op.drop_table(PREFERENCES)
    disable_tenant_rls(op, OUTBOX)
    op.drop_index("ix_notification_outbox_tenant_id_user_id_created_at", table_name=OUTBOX)
    op.drop_index("ix_notification_outbox_state_next_attempt_at", table_name=OUTBOX)
    op.drop_index(op.f("ix_notification_outbox_tenant_id"), table_name=OUTBOX)
    op.drop_table(OUTBOX)
