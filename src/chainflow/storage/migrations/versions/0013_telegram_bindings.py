"""The Telegram bot's chat bindings and one-time link codes, per tenant with RLS.

Revision ID: 0013_telegram_bindings
Revises: 0012_notifications
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0013_telegram_bindings"
down_revision: str | Sequence[str] | None = "0012_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BINDINGS = "telegram_bindings"
CODES = "telegram_link_codes"


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


def upgrade() -> None:
    op.create_table(
        BINDINGS,
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("muted_until", sa.DateTime(timezone=True), nullable=True),
        *_common(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_bindings")),
        sa.UniqueConstraint("chat_id", name=op.f("uq_telegram_bindings_chat_id")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_telegram_bindings_tenant_id_user_id")
        ),
    )
    op.create_index(op.f("ix_telegram_bindings_tenant_id"), BINDINGS, ["tenant_id"])
    enable_tenant_rls(op, BINDINGS)
    op.create_table(
        CODES,
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        *_common(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_telegram_link_codes_code_hash")),
    )
    op.create_index(op.f("ix_telegram_link_codes_tenant_id"), CODES, ["tenant_id"])
    enable_tenant_rls(op, CODES)


def downgrade() -> None:
    for table in (CODES, BINDINGS):
        disable_tenant_rls(op, table)
        op.drop_index(op.f(f"ix_{table}_tenant_id"), table_name=table)
        op.drop_table(table)
