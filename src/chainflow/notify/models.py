"""The notification hub's tables (RLS): the delivery outbox, each user's preferences, events
waiting for a digest, a tenant's template overrides, users' push and SMS devices, the
addresses each user signed in from and the state of each MT5 terminal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.notify.telegram_bot import models as telegram_models
from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin, UTCDateTime

# The bot's tables (chat bindings, link codes) register on the same metadata with these.
__all__ = [
    "NotificationDevice",
    "NotificationDigestItem",
    "NotificationKnownAddress",
    "NotificationOutbox",
    "NotificationPreference",
    "NotificationTemplate",
    "NotificationTerminal",
    "telegram_models",
]

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
    address: Mapped[str] = mapped_column(Text, nullable=False)  # a push subscription is long
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


class NotificationDigestItem(Base, IdMixin, TimestampMixin, TenantOwned):
    """One event held for a user's digest on one channel and address.

    ``due_at`` is the digest boundary (already moved past the quiet hours); the rows of one
    (user, channel, address, due_at) become one outbox row, whose id is then written to
    ``digest_id`` in the same transaction. The unique ``idempotency_key`` keeps a
    redelivered event out of a digest it is already in (or was sent in).
    """

    __tablename__ = "notification_digest_items"
    __table_args__ = (
        Index("ix_notification_digest_items_digest_id_due_at", "digest_id", "due_at"),
    )

    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False, unique=True)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str] = mapped_column(Text, nullable=False)
    locale: Mapped[str] = mapped_column(String(16), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    event_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    period: Mapped[str] = mapped_column(String(8), nullable=False)  # hourly | daily
    digest_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class NotificationTemplate(Base, IdMixin, TimestampMixin, TenantOwned):
    """A tenant's override of one (event kind, channel, locale): its subject and text."""

    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "channel", "locale"),)

    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    locale: Mapped[str] = mapped_column(String(16), nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(32), nullable=False)


class NotificationDevice(Base, IdMixin, TimestampMixin, TenantOwned):
    """A user's push subscription, FCM token or phone number: an address of a channel.

    ``kind`` is ``webpush`` (``address`` the subscription JSON), ``fcm`` (``fcm:<token>``)
    or ``sms`` (an E.164 number). A phone receives nothing until ``verified_at`` is set by
    the one-time code sent to it (only the code's SHA-256 is stored). ``enabled`` turns
    false when the provider says the address is gone.
    """

    __tablename__ = "notification_devices"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "address_hash"),)

    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str] = mapped_column(Text, nullable=False)
    address_hash: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False)
    label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    code_hash: Mapped[str | None] = mapped_column(String(KEY_LENGTH), nullable=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    code_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class NotificationKnownAddress(Base, IdMixin, TimestampMixin, TenantOwned):
    """An IP address ``user_id`` signed in from (``security.KnownAddresses``).

    ``event_id`` is the sign-in event that first saw it, ``first_of_user`` whether it was
    the user's first address ever (no alert then): a redelivered event decides the same.
    """

    __tablename__ = "notification_known_addresses"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "ip"),)

    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    ip: Mapped[str] = mapped_column(String(64), nullable=False)
    event_id: Mapped[str] = mapped_column(String(KEY_LENGTH), nullable=False)
    first_of_user: Mapped[bool] = mapped_column(Boolean, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class NotificationTerminal(Base, IdMixin, TimestampMixin, TenantOwned):
    """One MT5 terminal (``terminal_key``: its API key id) as the hub last heard of it.

    ``connection_id`` is its newest connection; ``state`` ``up`` or ``down`` (since
    ``disconnected_at``). ``alerted`` lists the users already told it is away (told again
    when it is back); ``settled`` turns true once every member's wait has passed.
    """

    __tablename__ = "notification_terminals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "terminal_key"),
        Index("ix_notification_terminals_state_settled", "state", "settled"),
    )

    terminal_key: Mapped[str] = mapped_column(String(64), nullable=False)
    label: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    connection_id: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False)
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    alerted: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    settled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
