"""Backtest jobs keep a checkpoint (finished trials or windows) to resume from.

Revision ID: 0010_backtest_checkpoints
Revises: 0008_paper_accounts
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_backtest_checkpoints"
down_revision: str | Sequence[str] | None = "0008_paper_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "backtest_jobs"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("checkpoint", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("checkpoint")
