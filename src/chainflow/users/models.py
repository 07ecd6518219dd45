"""The users service's tables: tenants, users, sessions, one-time tokens, API keys,
invitations and tenant trading settings.

``tenants`` is global (a tenant is the unit of isolation itself); every other table is
tenant-owned, queried only through ``users.repository`` and guarded by PostgreSQL RLS
(migration ``0002_users``). Secrets (passwords, refresh tokens, one-time tokens, API keys,
invitation tokens) are stored only as hashes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from chainflow.storage.relational import Base, IdMixin, TenantOwned, TimestampMixin
from chainflow.storage.relational.base import ID_LENGTH

EMAIL_LENGTH = 320
NAME_LENGTH = 200
HASH_LENGTH = 128
ROLE_LENGTH = 16


class Tenant(Base, IdMixin, TimestampMixin):
    """A customer account: a personal tenant per registration, or an enterprise team."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    tier: Mapped[str] = mapped_column(String(16), nullable=False)
    # Per-tenant overrides of ``core.auth.TierLimits`` fields, set by a superadmin.
    limit_overrides: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)


class User(Base, IdMixin, TimestampMixin, TenantOwned):
    """A person who signs in; belongs to exactly one tenant. ``email`` is lower-case."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False, default="")
    locale: Mapped[str] = mapped_column(String(8), nullable=False, default="en")
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH), nullable=False)
    is_superadmin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RefreshToken(Base, IdMixin, TenantOwned):
    """One refresh token of a session. A session is a family of rotated tokens that share
    ``family_id``; the token neither used nor revoked is the family's current one."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    family_id: Mapped[str] = mapped_column(String(ID_LENGTH), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), nullable=False, unique=True)
    issued_at: Mapped[datetime] = mapped_column(nullable=False)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(400), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OneTimeToken(Base, IdMixin, TenantOwned):
    """A single-use, expiring token: e-mail verification or password reset."""

    __tablename__ = "one_time_tokens"

    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), nullable=False, unique=True)
    issued_at: Mapped[datetime] = mapped_column(nullable=False)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ApiKey(Base, IdMixin, TimestampMixin, TenantOwned):
    """A key for MT5 terminals and scripts; only its prefix and hash are stored."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), nullable=False, unique=True)
    scopes: Mapped[list[Any]] = mapped_column(nullable=False)
    created_by: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Invitation(Base, IdMixin, TimestampMixin, TenantOwned):
    """An invitation of an e-mail address into a tenant with a role."""

    __tablename__ = "invitations"

    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), nullable=False)
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), nullable=False, unique=True)
    invited_by: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    accepted_user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class TenantTradingSettings(Base, IdMixin, TimestampMixin, TenantOwned):
    """Risk preferences of a tenant, read later by trading and risk (one row per tenant)."""

    __tablename__ = "tenant_trading_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    risk_tolerance: Mapped[str] = mapped_column(String(16), nullable=False)
    max_risk_per_trade_pct: Mapped[float] = mapped_column(Float, nullable=False)
    max_daily_loss_pct: Mapped[float] = mapped_column(Float, nullable=False)
    max_drawdown_pct: Mapped[float] = mapped_column(Float, nullable=False)
    default_lot_size: Mapped[float] = mapped_column(Float, nullable=False)
    allowed_symbols: Mapped[list[Any]] = mapped_column(nullable=False)
    leverage: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)


# Billing's tables live in their own sub-package; importing them here puts them on
# ``Base.metadata`` wherever the users service's models are imported (migrations included).
from chainflow.users.billing import models as billing_models  # noqa: E402, F401
