"""Public interface of the users service: what other services may import.

Trading and risk read a tenant's trading settings through ``UsersApi``; operator tools
(``chainflow train --custom``) find a tenant and its limits through ``UsersAdminApi``; the
notification hub consumes the events whose types and topic builders are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, NewType, Protocol

from chainflow.core.auth import TierLimits
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

if TYPE_CHECKING:
    from chainflow.storage.relational import UnitOfWork

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


class TenantLimitsView(Protocol):
    """A tenant as operator tools read it: its effective limits (tier and overrides)."""

    @property
    def limits(self) -> TierLimits: ...


class TenantDirectory(Protocol):
    """The users service's tenant lookups for operator tools, in the caller's unit of work
    (a system one: the tenant is not known yet)."""

    async def tenant_id_for_email(self, uow: UnitOfWork, email: str) -> str:
        """Return the tenant of the user with ``email``; raise ``UserNotFoundError`` if none."""
        ...

    async def get_tenant(self, uow: UnitOfWork, tenant_id: str) -> TenantLimitsView:
        """Return the tenant; raise ``TenantNotFoundError`` if there is none."""
        ...


class UsersAdminApi(Protocol):
    """What operator tools ask the users service (the local object in a tool-mode kernel)."""

    @property
    def admin(self) -> TenantDirectory: ...


__all__ = [
    "ApiKeyId",
    "InvitationCreated",
    "InvitationId",
    "PaidSpan",
    "PasswordResetRequested",
    "PlatformHistory",
    "RiskTolerance",
    "SessionId",
    "TenantDirectory",
    "TenantLimitsView",
    "TenantRecord",
    "TierChanged",
    "TradingSettings",
    "UsersAdminApi",
    "UsersApi",
    "VerificationRequested",
    "invitation_created_topic",
    "password_reset_requested_topic",
    "read_platform_history",
    "tier_changed_topic",
    "verification_requested_topic",
]
