"""Public interface of the users service: what other services may import.

Trading and risk read a tenant's trading settings through ``UsersApi``; the notification
hub consumes the events whose types and topic builders are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType, Protocol

from chainflow.core.tenancy import TenantContext
from chainflow.users.events import (
    InvitationCreated,
    PasswordResetRequested,
    TierChanged,
    VerificationRequested,
    invitation_created_topic,
    password_reset_requested_topic,
    tier_changed_topic,
    verification_requested_topic,
)
from chainflow.users.platform_history import (
    PaidSpan,
    PlatformHistory,
    TenantRecord,
    read_platform_history,
)

SessionId = NewType("SessionId", str)
ApiKeyId = NewType("ApiKeyId", str)
InvitationId = NewType("InvitationId", str)


class RiskTolerance(StrEnum):
    """How much risk a tenant accepts; picks the defaults of its trading settings."""

    CONSERVATIVE = "conservative"
    MODERATE = "moderate"
    AGGRESSIVE = "aggressive"


@dataclass(frozen=True, slots=True)
class TradingSettings:
    """A tenant's risk preferences, validated (``users.trading_rules``).

    ``allowed_symbols`` empty means every symbol is allowed. ``is_default`` says the tenant
    never stored settings and these are the defaults of ``risk_tolerance``.
    """

    risk_tolerance: RiskTolerance
    max_risk_per_trade_pct: float
    max_daily_loss_pct: float
    max_drawdown_pct: float
    default_lot_size: float
    allowed_symbols: tuple[str, ...]
    leverage: int
    is_default: bool = False

    def allows_symbol(self, symbol: str) -> bool:
        """Return whether the tenant may trade ``symbol`` (upper-cased before comparing)."""
        return not self.allowed_symbols or symbol.upper() in self.allowed_symbols


class UsersApi(Protocol):
    """What other services ask the users service (a local object or a remote proxy)."""

    async def get_trading_settings(self, tenant: TenantContext) -> TradingSettings:
        """Return the tenant's trading settings (defaults when none were stored)."""
        ...


__all__ = [
    "ApiKeyId",
    "InvitationCreated",
    "InvitationId",
    "PaidSpan",
    "PasswordResetRequested",
    "PlatformHistory",
    "RiskTolerance",
    "SessionId",
    "TenantRecord",
    "TierChanged",
    "TradingSettings",
    "UsersApi",
    "VerificationRequested",
    "invitation_created_topic",
    "password_reset_requested_topic",
    "read_platform_history",
    "tier_changed_topic",
    "verification_requested_topic",
]
