"""Who is calling: roles, permissions, API-key scopes, subscription tiers and their limits.

Pure data and checks shared by the gateway (which resolves a ``Principal`` per request) and
every service (which requires permissions, scopes or tiers of it). The limits table is the
one source in code; per-tenant overrides stored by the users service are applied on top
(``TierLimits.with_overrides``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal

from chainflow.core.ids import TenantId, UserId
from chainflow.core.tenancy import TenantContext


class Role(StrEnum):
    """A user's role inside their tenant."""

    OWNER = "owner"
    ADMIN = "admin"
    TRADER = "trader"
    VIEWER = "viewer"


class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


class Scope(StrEnum):
    """What an API key may do (and what a role implies for JWT callers)."""

    TICKS_WRITE = "ticks:write"
    SIGNALS_READ = "signals:read"
    READ = "read"
    TRADE = "trade"


class Permission(StrEnum):
    """Actions checked by routes through one dependency (never ad-hoc ifs)."""

    PROFILE_READ = "profile:read"
    TENANT_READ = "tenant:read"
    TENANT_MANAGE = "tenant:manage"  # trading settings, member roles, invitations
    BILLING_MANAGE = "billing:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    MARKET_READ = "market:read"
    SIGNALS_READ = "signals:read"
    TRADE = "trade"
    BACKTEST_RUN = "backtest:run"
    MODELS_MANAGE = "models:manage"
    PLATFORM_ADMIN = "platform:admin"  # superadmin only


_VIEWER = frozenset(
    {
        Permission.PROFILE_READ,
        Permission.TENANT_READ,
        Permission.MARKET_READ,
        Permission.SIGNALS_READ,
    }
)
_TRADER = _VIEWER | {
    Permission.TRADE,
    Permission.BACKTEST_RUN,
    Permission.MODELS_MANAGE,
    Permission.API_KEYS_MANAGE,
}
_ADMIN = _TRADER | {Permission.TENANT_MANAGE}
_OWNER = _ADMIN | {Permission.BILLING_MANAGE}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.TRADER: frozenset(_TRADER),
    Role.ADMIN: frozenset(_ADMIN),
    Role.OWNER: frozenset(_OWNER),
}

ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.VIEWER: frozenset({Scope.READ, Scope.SIGNALS_READ}),
    Role.TRADER: frozenset(Scope),
    Role.ADMIN: frozenset(Scope),
    Role.OWNER: frozenset(Scope),
}

# What each API-key scope allows, as permissions (an API key never manages the tenant).
SCOPE_PERMISSIONS: dict[Scope, frozenset[Permission]] = {
    Scope.TICKS_WRITE: frozenset(),
    Scope.SIGNALS_READ: frozenset({Permission.SIGNALS_READ}),
    Scope.READ: frozenset(
        {
            Permission.PROFILE_READ,
            Permission.TENANT_READ,
            Permission.MARKET_READ,
            Permission.SIGNALS_READ,
        }
    ),
    Scope.TRADE: frozenset({Permission.TRADE}),
}


class Feature(StrEnum):
    """Capabilities gated by tier."""

    DEEP_MODELS = "deep_models"  # LSTM / CNN / ensembles
    CUSTOM_MODELS = "custom_models"
    WALK_FORWARD = "walk_forward"
    OPTIMIZATION = "optimization"
    SMS_NOTIFICATIONS = "sms_notifications"
    REPORT_EXPORTS = "report_exports"
    TEAM_MEMBERS = "team_members"  # invitations into the tenant


@dataclass(frozen=True, slots=True)
class TierLimits:
    """Quotas of one tier. ``0`` means none allowed."""

    rest_requests_per_minute: int
    websocket_connections: int
    symbols_streamed: int
    ticks_per_second: int
    backtests_per_day: int
    custom_models: int
    notification_channels: int
    data_retention_days: int
    features: frozenset[Feature] = field(default_factory=frozenset)
    # The size of one backtest job: combinations searched x bars each runs on. The default
    # keeps limits stored before this field existed readable.
    backtest_combination_bars: int = 20_000_000
    # The share of one core the tenant's hot-path work (frames, ticks, scoring) may take in
    # one process, in CPU-seconds per second (``core.cpu_share``); over it, its terminals'
    # frames are read more slowly. The default keeps limits stored before it readable.
    cpu_share: float = 0.5

    def with_overrides(self, overrides: dict[str, Any]) -> TierLimits:
        """Return these limits with stored per-tenant overrides applied (unknown keys fail)."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"limit overrides must name fields of TierLimits; received {unknown}")
        values = dict(overrides)
        if "features" in values:
            values["features"] = frozenset(Feature(f) for f in values["features"])
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["features"] = sorted(self.features)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TierLimits:
        values = dict(raw)
        values["features"] = frozenset(Feature(f) for f in values.get("features", ()))
        return cls(**values)


TIER_LIMITS: dict[Tier, TierLimits] = {
    Tier.FREE: TierLimits(
        rest_requests_per_minute=60,
        websocket_connections=2,
        symbols_streamed=3,
        ticks_per_second=20,
        backtests_per_day=5,
        custom_models=0,
        notification_channels=1,
        data_retention_days=30,
        features=frozenset(),
        backtest_combination_bars=20_000_000,
        cpu_share=0.05,
    ),
    Tier.PRO: TierLimits(
        rest_requests_per_minute=600,
        websocket_connections=10,
        symbols_streamed=25,
        ticks_per_second=200,
        backtests_per_day=100,
        custom_models=5,
        notification_channels=3,
        data_retention_days=365,
        features=frozenset(
            {
                Feature.DEEP_MODELS,
                Feature.CUSTOM_MODELS,
                Feature.WALK_FORWARD,
                Feature.OPTIMIZATION,
                Feature.REPORT_EXPORTS,
            }
        ),
        backtest_combination_bars=500_000_000,
        cpu_share=0.2,
    ),
    Tier.ENTERPRISE: TierLimits(
        rest_requests_per_minute=6000,
        websocket_connections=100,
        symbols_streamed=250,
        ticks_per_second=2000,
        backtests_per_day=1000,
        custom_models=50,
        notification_channels=4,
        data_retention_days=1825,
        features=frozenset(Feature),
        backtest_combination_bars=10_000_000_000,
        cpu_share=0.5,
    ),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The resolved caller of one request: user, tenant, role, tier, limits and scopes."""

    user_id: UserId
    tenant_id: TenantId
    role: Role
    tier: Tier
    limits: TierLimits
    scopes: frozenset[Scope]
    auth_method: Literal["jwt", "api_key"]
    is_superadmin: bool = False
    session_id: str | None = None  # refresh-token family of a JWT caller
    api_key_id: str | None = None

    @property
    def tenant(self) -> TenantContext:
        return TenantContext(tenant_id=self.tenant_id, user_id=self.user_id, role=self.role)

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.auth_method == "api_key":
            granted: set[Permission] = set()
            for scope in self.scopes:
                granted |= SCOPE_PERMISSIONS[scope]
            allowed = granted & ROLE_PERMISSIONS[self.role]
        else:
            allowed = set(ROLE_PERMISSIONS[self.role])
        if self.is_superadmin:
            allowed.add(Permission.PLATFORM_ADMIN)
        return frozenset(allowed)

    def has_permission(self, permission: Permission) -> bool:
        return permission in self.permissions

    def has_scope(self, scope: Scope) -> bool:
        return scope in self.scopes

    def has_feature(self, feature: Feature) -> bool:
        return feature in self.limits.features

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "role": self.role.value,
            "tier": self.tier.value,
            "limits": self.limits.to_dict(),
            "scopes": sorted(s.value for s in self.scopes),
            "auth_method": self.auth_method,
            "is_superadmin": self.is_superadmin,
            "session_id": self.session_id,
            "api_key_id": self.api_key_id,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Principal:
        return cls(
            user_id=UserId(raw["user_id"]),
            tenant_id=TenantId(raw["tenant_id"]),
            role=Role(raw["role"]),
            tier=Tier(raw["tier"]),
            limits=TierLimits.from_dict(raw["limits"]),
            scopes=frozenset(Scope(s) for s in raw["scopes"]),
            auth_method=raw["auth_method"],
            is_superadmin=bool(raw.get("is_superadmin", False)),
            session_id=raw.get("session_id"),
            api_key_id=raw.get("api_key_id"),
        )
