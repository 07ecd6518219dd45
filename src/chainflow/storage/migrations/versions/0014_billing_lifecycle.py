"""Billing lifecycle: trials, scheduled downgrades, renewal reminders, proration credits,
Enterprise overage, coupon redemptions per tenant, manual tier grants and the admin audit.

Revision ID: 0014_billing_lifecycle
Revises: 0013_telegram_bindings
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chainflow.storage.relational.rls import disable_tenant_rls, enable_tenant_rls

revision: str = "0014_billing_lifecycle"
down_revision: str | Sequence[str] | None = "0013_telegram_bindings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REDEMPTIONS = "billing_coupon_redemptions"
GRANTS = "billing_tier_grants"
AUDIT = "billing_audit"
SUBSCRIPTION_COLUMNS = (
    "trial_used_at",
    "scheduled_plan",
    "scheduled_period",
    "scheduled_at",
    "reminded_for_end",
    "renewal_order_id",
    "payer_user_id",
    "customer_details",
)


def _common(*, tenant: bool) -> list[sa.Column[object]]:
    columns: list[sa.Column[object]] = [
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]
    if tenant:
        columns.append(sa.Column("tenant_id", sa.String(length=32), nullable=False))
    return columns


def _at(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _add_columns() -> None:
    op.add_column(
        "billing_orders",
        sa.Column("kind", sa.String(length=16), server_default="new", nullable=False),
    )
    op.add_column(
        "billing_orders",
        sa.Column("credit_idr", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column(
        "billing_orders", sa.Column("overage_billed_by", sa.String(length=50), nullable=True)
    )
    op.add_column(
        "billing_invoices",
        sa.Column("credit_idr", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column("billing_subscriptions", _at("trial_used_at"))
    op.add_column(
        "billing_subscriptions", sa.Column("scheduled_plan", sa.String(length=32), nullable=True)
    )
    op.add_column(
        "billing_subscriptions", sa.Column("scheduled_period", sa.String(length=16), nullable=True)
    )
    op.add_column("billing_subscriptions", _at("scheduled_at"))
    op.add_column("billing_subscriptions", _at("reminded_for_end"))
    op.add_column(
        "billing_subscriptions", sa.Column("renewal_order_id", sa.String(length=50), nullable=True)
    )
    op.add_column(
        "billing_subscriptions", sa.Column("payer_user_id", sa.String(length=32), nullable=True)
    )
    op.add_column("billing_subscriptions", sa.Column("customer_details", sa.JSON(), nullable=True))


def upgrade() -> None:
    _add_columns()
    op.create_table(
        REDEMPTIONS,
        sa.Column("coupon_code", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=50), nullable=False),
        *_common(tenant=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_coupon_redemptions")),
        sa.UniqueConstraint(
            "tenant_id",
            "coupon_code",
            name=op.f("uq_billing_coupon_redemptions_tenant_id_coupon_code"),
        ),
    )
    op.create_index(op.f("ix_billing_coupon_redemptions_tenant_id"), REDEMPTIONS, ["tenant_id"])
    op.create_table(
        GRANTS,
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        _at("until"),
        *_common(tenant=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_tier_grants")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_tier_grants_tenant_id")),
    )
    op.create_index(op.f("ix_billing_tier_grants_tenant_id"), GRANTS, ["tenant_id"])
    op.create_index(op.f("ix_billing_tier_grants_until"), GRANTS, ["until"])
    op.create_table(
        AUDIT,
        _at("at", nullable=False),
        sa.Column("actor_user_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("subject_tenant_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=50), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        *_common(tenant=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_audit")),
    )
    op.create_index(op.f("ix_billing_audit_at"), AUDIT, ["at"])
    op.create_index(op.f("ix_billing_audit_subject_tenant_id"), AUDIT, ["subject_tenant_id"])
    enable_tenant_rls(op, REDEMPTIONS)
    enable_tenant_rls(op, GRANTS)


def downgrade() -> None:
    disable_tenant_rls(op, GRANTS)
    disable_tenant_rls(op, REDEMPTIONS)
    op.drop_table(AUDIT)
    op.drop_table(GRANTS)
    op.drop_table(REDEMPTIONS)
    with op.batch_alter_table("billing_subscriptions") as batch:
        for name in SUBSCRIPTION_COLUMNS:
            batch.drop_column(name)
    with op.batch_alter_table("billing_invoices") as batch:
        batch.drop_column("credit_idr")
    with op.batch_alter_table("billing_orders") as batch:
        for name in ("overage_billed_by", "credit_idr", "kind"):
            batch.drop_column(name)
