"""Remote proxies: a service's api Protocol implemented over the bus, for processes that
use a service running elsewhere (DESIGN.md section 2).

``serve_credential_resolver`` runs in the process that hosts the users service;
``BusCredentialResolver`` is what a gateway-only process uses in its place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.errors import DependencyUnavailable
from chainflow.core.ids import TenantId, UserId
from chainflow.core.logging import get_logger
from chainflow.core.messages import topic
from chainflow.core.tenancy import TenantContext
from chainflow.gateway.api import CredentialResolver
from chainflow.hub.api import EventBus, Subscription
from chainflow.risk.settings_source import TenantRiskSettings
from chainflow.storage.relational import Database
from chainflow.trading.api import TradingPreferences

S = TypeVar("S")
log = get_logger("chainflow.runtime.remote")

RESOLVE_SESSION = topic("users", "credentials", "resolve_session")
RESOLVE_API_KEY = topic("users", "credentials", "resolve_api_key")
RECORD_API_KEY_USE = topic("users", "credentials", "record_api_key_use")
TRADING_SETTINGS = topic("users", "trading_settings", "get")


def _principal_reply(principal: Principal | None) -> bytes:
    return json.dumps({"principal": principal.to_dict() if principal else None}).encode()


async def serve_credential_resolver(
    bus: EventBus, resolver: CredentialResolver
) -> list[Subscription]:
    """Answer credential lookups from other processes with the local ``resolver``."""

    async def resolve_session(data: bytes) -> bytes:
        raw = json.loads(data)
        return _principal_reply(
            await resolver.resolve_session(
                UserId(raw["user_id"]), TenantId(raw["tenant_id"]), str(raw["session_id"])
            )
        )

    async def resolve_api_key(data: bytes) -> bytes:
        return _principal_reply(await resolver.resolve_api_key(str(json.loads(data)["key_hash"])))

    async def record_api_key_use(data: bytes) -> bytes:
        raw = json.loads(data)
        await resolver.record_api_key_use(str(raw["api_key_id"]), int(raw["used_at_ms"]))
        return b"{}"

    return [
        await bus.serve(RESOLVE_SESSION, resolve_session),
        await bus.serve(RESOLVE_API_KEY, resolve_api_key),
        await bus.serve(RECORD_API_KEY_USE, record_api_key_use),
    ]


class BusCredentialResolver:
    """``CredentialResolver`` that asks the users service over bus request/reply."""

    def __init__(self, bus: EventBus, *, timeout_s: float | None = None) -> None:
        self._bus = bus
        self._timeout_s = timeout_s

    async def resolve_session(
        self, user_id: UserId, tenant_id: TenantId, session_id: str
    ) -> Principal | None:
        body = {"user_id": user_id, "tenant_id": tenant_id, "session_id": session_id}
        return await self._ask(RESOLVE_SESSION, body)

    async def resolve_api_key(self, key_hash: str) -> Principal | None:
        return await self._ask(RESOLVE_API_KEY, {"key_hash": key_hash})

    async def record_api_key_use(self, api_key_id: str, used_at_ms: int) -> None:
        body = json.dumps({"api_key_id": api_key_id, "used_at_ms": used_at_ms}).encode()
        await self._bus.request(RECORD_API_KEY_USE, body, timeout_s=self._timeout_s)

    async def _ask(self, subject: str, body: dict[str, Any]) -> Principal | None:
        reply = await self._bus.request(
            subject, json.dumps(body).encode(), timeout_s=self._timeout_s
        )
        raw = json.loads(reply)["principal"]
        return Principal.from_dict(raw) if raw is not None else None


async def serve_trading_settings(bus: EventBus, database: Database, users: Any) -> Subscription:
    """Answer ``{tenant_id}`` with the tenant's risk tolerance, symbols, risk limits and
    leverage."""

    async def get(data: bytes) -> bytes:
        tenant = TenantContext(tenant_id=TenantId(str(json.loads(data)["tenant_id"])))
        async with database.unit_of_work(tenant, read_only=True) as uow:
            settings = await users.trading_settings.get(uow, tenant)
        async with database.unit_of_work(system=True, read_only=True) as uow:
            tier = (await users.admin.get_tenant(uow, tenant.tenant_id)).tier
        return json.dumps(
            {
                "tier": str(tier.value if hasattr(tier, "value") else tier),
                "risk_tolerance": str(settings.risk_tolerance),
                "allowed_symbols": list(settings.allowed_symbols),
                "max_risk_per_trade_pct": settings.max_risk_per_trade_pct,
                "max_daily_loss_pct": settings.max_daily_loss_pct,
                "max_drawdown_pct": settings.max_drawdown_pct,
                "leverage": settings.leverage,
            }
        ).encode()

    return await bus.serve(TRADING_SETTINGS, get)


class CachedSettingsRequest(Generic[S]):
    """A tenant's trading settings from the users service over the bus, cached ``ttl_s``.

    ``parse`` turns the reply into what the caller keeps. Without an answer (users
    unreachable, or a reply it cannot parse) a tenant keeps its last answer, else
    ``default``.
    """

    def __init__(
        self,
        bus: EventBus,
        clock: Clock,
        parse: Callable[[dict[str, Any]], S],
        default: S,
        *,
        ttl_s: float = 30.0,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._parse = parse
        self._default = default
        self._ttl_ms = ttl_s * 1000.0
        self._cache: dict[str, tuple[int, S]] = {}

    def forget(self, tenant_id: str) -> None:
        self._cache.pop(tenant_id, None)

    async def get(self, tenant_id: str) -> S:
        now = self._clock.now_ms()
        cached = self._cache.get(tenant_id)
        if cached is not None and now - cached[0] < self._ttl_ms:
            return cached[1]
        try:
            reply = await self._bus.request(
                TRADING_SETTINGS, json.dumps({"tenant_id": tenant_id}).encode(), timeout_s=2.0
            )
            found = self._parse(json.loads(reply))
        except (DependencyUnavailable, KeyError, TypeError, ValueError) as exc:
            log.warning("trading_settings_unavailable", tenant_id=tenant_id, error=str(exc))
            found = cached[1] if cached is not None else self._default
        self._cache[tenant_id] = (now, found)
        return found


def _preferences_of(raw: dict[str, Any]) -> TradingPreferences:
    symbols = tuple(str(s) for s in raw["allowed_symbols"])
    return TradingPreferences(
        risk_tolerance=raw["risk_tolerance"],
        allowed_symbols=frozenset(symbols) if symbols else None,
        max_risk_per_trade_pct=float(raw["max_risk_per_trade_pct"]),
        max_daily_loss_pct=float(raw["max_daily_loss_pct"]),
        max_drawdown_pct=float(raw["max_drawdown_pct"]),
        leverage=int(raw.get("leverage", TradingPreferences().leverage)),
        tier=str(raw.get("tier", TradingPreferences().tier)),
    )


def _risk_settings_of(raw: dict[str, Any]) -> TenantRiskSettings:
    return TenantRiskSettings(
        max_risk_per_trade_pct=float(raw["max_risk_per_trade_pct"]),
        max_daily_loss_pct=float(raw["max_daily_loss_pct"]),
        max_drawdown_pct=float(raw["max_drawdown_pct"]),
        leverage=int(raw.get("leverage", TenantRiskSettings().leverage)),
    )


class BusTradingPreferences:
    """The trading engine's ``TradingPreferencesSource`` over the bus, cached ``ttl_s``."""

    def __init__(self, bus: EventBus, clock: Clock, *, ttl_s: float = 30.0) -> None:
        self._request = CachedSettingsRequest(
            bus, clock, _preferences_of, TradingPreferences(), ttl_s=ttl_s
        )

    def forget(self, tenant_id: str) -> None:
        self._request.forget(tenant_id)

    async def preferences(self, tenant_id: str) -> TradingPreferences:
        return await self._request.get(tenant_id)


class BusRiskSettings:
    """The risk service's ``RiskSettingsSource`` over the same bus request, cached ``ttl_s``."""

    def __init__(self, bus: EventBus, clock: Clock, *, ttl_s: float = 30.0) -> None:
        self._request = CachedSettingsRequest(
            bus, clock, _risk_settings_of, TenantRiskSettings(), ttl_s=ttl_s
        )

    async def risk_settings(self, tenant_id: str) -> TenantRiskSettings:
        return await self._request.get(tenant_id)
