"""Billing: card renewals through Midtrans subscriptions, and the id Midtrans knows a
payment by (a Payment Link purchase or a subscription charge), for refunds.

Revision ID: 0019_billing_card_subscriptions
Revises: 0018_analytics_reports
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_billing_card_subscriptions"
down_revision: str | Sequence[str] | None = "0018_analytics_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDERS = "billing_orders"
SUBSCRIPTIONS = "billing_subscriptions"
SUBSCRIPTION_COLUMNS = (
    "card_token_id",
    "auto_renew",
    "card_subscription_id",
    "card_subscription_name",
    "card_subscription_plan",
    "card_subscription_period",
    "card_subscription_amount_idr",
)


def upgrade() -> None:
    with op.batch_alter_table(ORDERS) as batch:
        batch.add_column(sa.Column("midtrans_order_id", sa.String(length=100), nullable=True))
        batch.create_unique_constraint(
            op.f(f"uq_{ORDERS}_midtrans_order_id"), ["midtrans_order_id"]
        )
    op.add_column(SUBSCRIPTIONS, sa.Column("card_token_id", sa.String(length=100), nullable=True))
    op.add_column(
        SUBSCRIPTIONS,
        sa.Column("auto_renew", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        SUBSCRIPTIONS, sa.Column("card_subscription_id", sa.String(length=100), nullable=True)
    )
    op.add_column(
        SUBSCRIPTIONS, sa.Column("card_subscription_name", sa.String(length=40), nullable=True)
    )
    op.add_column(
        SUBSCRIPTIONS, sa.Column("card_subscription_plan", sa.String(length=32), nullable=True)
    )
    op.add_column(
        SUBSCRIPTIONS, sa.Column("card_subscription_period", sa.String(length=16), nullable=True)
    )
    op.add_column(
        SUBSCRIPTIONS, sa.Column("card_subscription_amount_idr", sa.BigInteger(), nullable=True)
    )
    op.create_index(
        op.f(f"ix_{SUBSCRIPTIONS}_card_subscription_name"),
        SUBSCRIPTIONS,
        ["card_subscription_name"],
    )


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{SUBSCRIPTIONS}_card_subscription_name"), table_name=SUBSCRIPTIONS)
    with op.batch_alter_table(SUBSCRIPTIONS) as batch:
        for column in SUBSCRIPTION_COLUMNS:
            batch.drop_column(column)
    with op.batch_alter_table(ORDERS) as batch:
        batch.drop_constraint(op.f(f"uq_{ORDERS}_midtrans_order_id"), type_="unique")
        batch.drop_column("midtrans_order_id")
