"""Initial schema: the hub's config overrides.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Global table (not tenant-owned), owned by the hub: chainflow.hub.models.ConfigOverride.
    op.create_table(
        "hub_config_overrides",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_hub_config_overrides")),
    )


def downgrade() -> None:
    op.drop_table("hub_config_overrides")
