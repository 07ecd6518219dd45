"""The notification hub's tables: the delivery outbox and each user's preferences (RLS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.notify.telegram_bot import models as telegram_models
from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin, UTCDateTime

# The bot's tables (chat bindings, link codes) register on the same metadata with these.
__all__ = ["NotificationOutbox", "NotificationPreference", "telegram_models"]

KEY_LENGTH = 64


class NotificationOutbox(Base, IdMixin, TimestampMixin, TenantOwned):
    """One rendered message for one recipient on one channel, and its delivery state.

    ``state`` moves ``pending`` -> ``sending`` (claimed by a worker, ``attempts`` counted)
    -> ``sent``; a failed try goes back to ``pending`` with a later ``next_attempt_at``, a
    permanent refusal ends ``failed`` and exhausted retries end ``dead``. The unique
    ``idempotency_key`` (event, recipient, channel) keeps a redelivered event from queueing
    the message twice. ``event_at`` is when the event happened (for the latency metric).
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (
        Index("ix_notification_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index(
            "ix_notification_outbox_tenant_id_user_id_created_at",
            "tenant_id",
            "user_id",
            "created_at",
        ),
    )

    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False, unique=True)
    event_id: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str] = mapped_column(String(320), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    body_text: Mapped[str] = mapped_column(Text, nullable=False)
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class NotificationPreference(Base, IdMixin, TimestampMixin, TenantOwned):
    """One user's notification preferences (``preferences.Preferences`` as a document)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    document: Mapped[dict[str, Any]] = mapped_column(nullable=False)
