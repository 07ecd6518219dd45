"""The model registry keeps a forced promotion: who overrode the promotion gate, and why.

``ml_models.promotion_override`` is NULL for a version promoted through the gate (its
verdict says it beats its baselines) or never promoted; for a version promoted with
``force`` against its verdict it holds ``{reason, by, at, verdict, sentence}``
(``chainflow.ml.registry.promotion_gate``). Rows registered before this revision keep NULL; their
metrics have no verdict, so promoting them needs ``force`` and a reason.

Revision ID: 0020_model_promotion_override
Revises: 0019_billing_card_subscriptions
Create Date: 2026-12-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_model_promotion_override"
down_revision: str | Sequence[str] | None = "0019_billing_card_subscriptions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ml_models"
COLUMN = "promotion_override"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column(COLUMN, sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column(COLUMN)
