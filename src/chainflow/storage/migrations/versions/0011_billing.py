"""Billing: orders, subscriptions, invoices with a per-tenant counter (all with RLS), and
platform-wide coupons.

Revision ID: 0011_billing
Revises: 0010_backtest_checkpoints
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0011_billing"
down_revision: str | Sequence[str] | None = "0010_backtest_checkpoints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "billing_orders",
    "billing_subscriptions",
    "billing_invoice_counters",
    "billing_invoices",
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


def _at(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def _money(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=False)


def _index(table: str, column: str, *, unique: bool = False) -> None:
    op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=unique)


def upgrade() -> None:
    op.create_table(
        "billing_orders",
        _text("order_id", 50),
        _text("user_id", 32),
        _text("plan", 32),
        _text("period", 16),
        _text("status", 24),
        _money("subtotal_idr"),
        _money("discount_idr"),
        _money("tax_idr"),
        _money("gross_amount_idr"),
        _text("tax_rate_percent", 16),
        sa.Column("item_details", sa.JSON(), nullable=False),
        sa.Column("customer_details", sa.JSON(), nullable=False),
        _text("coupon_code", 32, nullable=True),
        _text("snap_token", 200, nullable=True),
        _text("redirect_url", 500, nullable=True),
        _text("failure_reason", 300, nullable=True),
        _text("midtrans_status", 24, nullable=True),
        _text("fraud_status", 24, nullable=True),
        _text("payment_type", 40, nullable=True),
        _text("transaction_id", 100, nullable=True),
        _at("paid_at"),
        _at("granted_at"),
        _at("revoked_at"),
        _at("granted_period_start"),
        _at("granted_period_end"),
        _id(),
        *_timestamps(),
        _tenant_id(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_billing_orders_order_id")),
    )
    _index("billing_orders", "status")
    _index("billing_orders", "tenant_id")

    op.create_table(
        "billing_subscriptions",
        _text("plan", 32),
        _text("period", 16),
        _text("status", 24),
        _at("current_period_start", nullable=False),
        _at("current_period_end", nullable=False),
        _at("grace_until"),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        _text("last_order_id", 50, nullable=True),
        _at("ended_at"),
        _id(),
        *_timestamps(),
        _tenant_id(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscriptions")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_subscriptions_tenant_id")),
    )
    _index("billing_subscriptions", "status")
    _index("billing_subscriptions", "current_period_end")
    _index("billing_subscriptions", "tenant_id")

    op.create_table(
        "billing_invoice_counters",
        sa.Column("last_number", sa.Integer(), nullable=False),
        _id(),
        _tenant_id(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoice_counters")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_invoice_counters_tenant_id")),
    )
    _index("billing_invoice_counters", "tenant_id")

    op.create_table(
        "billing_invoices",
        sa.Column("number", sa.Integer(), nullable=False),
        _text("invoice_number", 64),
        _text("order_id", 50),
        _text("plan", 32),
        _text("period", 16),
        _text("currency", 3),
        sa.Column("lines", sa.JSON(), nullable=False),
        _money("subtotal_idr"),
        _money("discount_idr"),
        _text("tax_rate_percent", 16),
        _money("tax_idr"),
        _money("total_idr"),
        _text("customer_name", 200),
        _text("customer_email", 320),
        _at("issued_at", nullable=False),
        _at("period_start"),
        _at("period_end"),
        _id(),
        *_timestamps(),
        _tenant_id(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_invoices")),
        sa.UniqueConstraint(
            "tenant_id", "number", name=op.f("uq_billing_invoices_tenant_id_number")
        ),
        sa.UniqueConstraint("order_id", name=op.f("uq_billing_invoices_order_id")),
    )
    _index("billing_invoices", "tenant_id")

    op.create_table(
        "billing_coupons",
        _text("code", 32),
        _text("kind", 16),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("plans", sa.JSON(), nullable=False),
        _at("expires_at"),
        sa.Column("max_redemptions", sa.Integer(), nullable=True),
        sa.Column("redemptions", sa.Integer(), nullable=False),
        _id(),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_coupons")),
        sa.UniqueConstraint("code", name=op.f("uq_billing_coupons_code")),
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(op, table)
    op.drop_table("billing_coupons")
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
