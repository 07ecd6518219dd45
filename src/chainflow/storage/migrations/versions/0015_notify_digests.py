"""The notification hub's digests, tenant template overrides and push/SMS devices (RLS);
the outbox's address becomes text (a Web Push subscription is longer than 320 characters).

Revision ID: 0015_notify_digests
Revises: 0014_billing_lifecycle
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0015_notify_digests"
down_revision: str | Sequence[str] | None = "0014_billing_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX = "notification_outbox"
DIGESTS = "notification_digest_items"
TEMPLATES = "notification_templates"
DEVICES = "notification_devices"


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
    ]


def _tenant_table(name: str, *columns: sa.Column[object] | sa.Constraint) -> None:
    op.create_table(
        name, *columns, *_common(), sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}"))
    )
    op.create_index(op.f(f"ix_{name}_tenant_id"), name, ["tenant_id"])
    enable_tenant_rls(op, name)


def upgrade() -> None:
    with op.batch_alter_table(OUTBOX) as batch:
        batch.alter_column(
            "address", type_=sa.Text(), existing_type=sa.String(length=320), existing_nullable=False
        )
    _tenant_table(
        DIGESTS,
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("digest_id", sa.String(length=32), nullable=True),
        sa.UniqueConstraint("idempotency_key", name=op.f(f"uq_{DIGESTS}_idempotency_key")),
    )
    op.create_index(
        "ix_notification_digest_items_digest_id_due_at", DIGESTS, ["digest_id", "due_at"]
    )
    _tenant_table(
        TEMPLATES,
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=False),
        sa.UniqueConstraint(
            "tenant_id",
            "kind",
            "channel",
            "locale",
            name=op.f(f"uq_{TEMPLATES}_tenant_id_kind_channel_locale"),
        ),
    )
    _tenant_table(
        DEVICES,
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.UniqueConstraint(
            "tenant_id",
            "user_id",
            "address_hash",
            name=op.f(f"uq_{DEVICES}_tenant_id_user_id_address_hash"),
        ),
    )


def downgrade() -> None:
    for table in (DEVICES, TEMPLATES, DIGESTS):
        disable_tenant_rls(op, table)
        if table == DIGESTS:
            op.drop_index("ix_notification_digest_items_digest_id_due_at", table_name=table)
        op.drop_index(op.f(f"ix_{table}_tenant_id"), table_name=table)
        op.drop_table(table)
    with op.batch_alter_table(OUTBOX) as batch:
        batch.alter_column(
            "address", type_=sa.String(length=320), existing_type=sa.Text(), existing_nullable=False
        )
