"""The notification hub's known sign-in addresses and MT5 terminal states (RLS).

Revision ID: 0017_notify_security_terminals
Revises: 0016_plan_price_overrides
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0017_notify_security_terminals"
down_revision: str | Sequence[str] | None = "0016_plan_price_overrides"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDRESSES = "notification_known_addresses"
TERMINALS = "notification_terminals"
TERMINALS_STATE_INDEX = "ix_notification_terminals_state_settled"


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
    _tenant_table(
        ADDRESSES,
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("first_of_user", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "user_id", "ip", name=op.f(f"uq_{ADDRESSES}_tenant_id_user_id_ip")
        ),
    )
    _tenant_table(
        TERMINALS,
        sa.Column("terminal_key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerted", sa.JSON(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "terminal_key", name=op.f(f"uq_{TERMINALS}_tenant_id_terminal_key")
        ),
    )
    op.create_index(TERMINALS_STATE_INDEX, TERMINALS, ["state", "settled"])


def downgrade() -> None:
    op.drop_index(TERMINALS_STATE_INDEX, table_name=TERMINALS)
    for table in (TERMINALS, ADDRESSES):
        disable_tenant_rls(op, table)
        op.drop_index(op.f(f"ix_{table}_tenant_id"), table_name=table)
        op.drop_table(table)
