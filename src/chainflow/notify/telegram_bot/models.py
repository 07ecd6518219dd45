"""The Telegram bot's tables, per tenant (RLS): chat bindings and one-time link codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin, UTCDateTime

__all__ = ["TelegramBinding", "TelegramLinkCode"]


class TelegramBinding(Base, IdMixin, TimestampMixin, TenantOwned):
    """A Telegram chat linked to one user: where their Telegram notifications go.

    One chat serves one user and one user has one chat; ``role`` is the user's role when
    the chat was linked. ``enabled`` turns false when the chat blocked the bot (403).
    """

    __tablename__ = "telegram_bindings"
    __table_args__ = (
        UniqueConstraint("chat_id"),
        UniqueConstraint("tenant_id", "user_id"),
    )

    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    chat_id: Mapped[str] = mapped_column(String(32), nullable=False)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TelegramLinkCode(Base, IdMixin, TimestampMixin, TenantOwned):
    """A one-time code of a ``t.me/<bot>?start=<code>`` link; only its SHA-256 is stored."""

    __tablename__ = "telegram_link_codes"
    __table_args__ = (UniqueConstraint("code_hash"),)

    code_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
