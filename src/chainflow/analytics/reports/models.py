"""The report subscriptions table (RLS): one row per user who set a report preference.

``sent_through`` is the end of the newest period reported (or when the user subscribed:
the first report is the first period that ends after it); ``next_due_at`` is when the
scheduler looks at the row again (null while reports are off), indexed so that a round
reads only the rows that may be due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin, UTCDateTime

__all__ = ["ReportSubscription"]


class ReportSubscription(Base, IdMixin, TimestampMixin, TenantOwned):
    """A user's report setting (``off``, ``daily`` or ``weekly``) and schedule state."""

    __tablename__ = "analytics_report_subscriptions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        Index("ix_analytics_report_subscriptions_next_due_at", "next_due_at"),
    )

    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    period: Mapped[str] = mapped_column(String(8), nullable=False)
    sent_through: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
