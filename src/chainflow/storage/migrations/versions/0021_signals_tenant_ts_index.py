"""Signals are listed newest first from an index: (tenant_id, ts, id).

``GET /api/v1/signals`` without a symbol reads a tenant's newest signals ordered by bar
``ts``, then ``id`` (issue order). The index on (tenant_id, symbol, ts) serves the listing
of one symbol only; without one, SQLite and PostgreSQL read and sort every signal of the
tenant to return the first page. With this index they read that page and stop.

Revision ID: 0021_signals_tenant_ts_index
Revises: 0020_model_promotion_override
Create Date: 2026-12-16
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021_signals_tenant_ts_index"
down_revision: str | Sequence[str] | None = "0020_model_promotion_override"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "signals"
INDEX = "ix_signals_tenant_id_ts_id"


def upgrade() -> None:
    op.create_index(INDEX, TABLE, ["tenant_id", "ts", "id"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name=TABLE)
