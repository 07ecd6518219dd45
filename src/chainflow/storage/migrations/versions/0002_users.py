"""The users service's tables: tenants, users, sessions, tokens, API keys, invitations,
tenant trading settings. Every tenant-owned table gets row-level security.

Revision ID: 0002_users
Revises: 0001_initial
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0002_users"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "users",
    "refresh_tokens",
    "one_time_tokens",
    "api_keys",
    "invitations",
    "tenant_trading_settings",
)


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(length=32), nullable=False)


def _tenant_id() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(length=32), nullable=False)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def _at(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete="CASCADE"
    )


def _index(table: str, column: str) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def upgrade() -> None:
    # Global: a tenant is the unit of isolation itself.
    op.create_table(
        "tenants",
        _id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("limit_overrides", sa.JSON(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "users",
        _id(),
        _tenant_id(),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_superadmin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _at("email_verified_at", nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    _index("users", "tenant_id")
    op.create_table(
        "refresh_tokens",
        _id(),
        _tenant_id(),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("family_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        _at("issued_at", nullable=False),
        _at("expires_at", nullable=False),
        _at("used_at", nullable=True),
        _at("revoked_at", nullable=True),
        sa.Column("replaced_by", sa.String(length=32), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        _user_fk("refresh_tokens", "user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    for column in ("tenant_id", "user_id", "family_id"):
        _index("refresh_tokens", column)
    op.create_table(
        "one_time_tokens",
        _id(),
        _tenant_id(),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        _at("issued_at", nullable=False),
        _at("expires_at", nullable=False),
        _at("used_at", nullable=True),
        _user_fk("one_time_tokens", "user_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_one_time_tokens_token_hash")),
    )
    for column in ("tenant_id", "user_id"):
        _index("one_time_tokens", column)
    op.create_table(
        "api_keys",
        _id(),
        _tenant_id(),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        _at("last_used_at", nullable=True),
        _at("revoked_at", nullable=True),
        *_timestamps(),
        _user_fk("api_keys", "created_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    for column in ("tenant_id", "created_by"):
        _index("api_keys", column)
    op.create_table(
        "invitations",
        _id(),
        _tenant_id(),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("invited_by", sa.String(length=32), nullable=False),
        _at("expires_at", nullable=False),
        _at("accepted_at", nullable=True),
        sa.Column("accepted_user_id", sa.String(length=32), nullable=True),
        _at("revoked_at", nullable=True),
        *_timestamps(),
        _user_fk("invitations", "invited_by"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    _index("invitations", "tenant_id")
    op.create_table(
        "tenant_trading_settings",
        _id(),
        _tenant_id(),
        sa.Column("risk_tolerance", sa.String(length=16), nullable=False),
        sa.Column("max_risk_per_trade_pct", sa.Float(), nullable=False),
        sa.Column("max_daily_loss_pct", sa.Float(), nullable=False),
        sa.Column("max_drawdown_pct", sa.Float(), nullable=False),
        sa.Column("default_lot_size", sa.Float(), nullable=False),
        sa.Column("allowed_symbols", sa.JSON(), nullable=False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_trading_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_tenant_trading_settings_tenant_id")),
    )
    _index("tenant_trading_settings", "tenant_id")
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(op, table)
        op.drop_table(table)
    op.drop_table("tenants")
