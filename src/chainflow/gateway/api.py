"""Public interface of the gateway: what the composition root hands it, and the auth
dependencies every service's routes use. The gateway's own parts (``Authenticator``,
``PrincipalCache``, the limiters, the app) are the runtime's to build, from their modules.

Services never parse credentials: a route declares ``principal: CurrentPrincipal`` or
``Depends(require_permission(Permission.X))`` and receives a resolved ``Principal``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter

from chainflow.core.auth import Principal
from chainflow.core.health import ReadinessProbe
from chainflow.core.ids import TenantId, UserId
from chainflow.gateway.deps import (
    CurrentPrincipal,
    current_principal,
    require_feature,
    require_permission,
    require_scope,
    require_superadmin,
    websocket_principal,
)
from chainflow.gateway.rate_limit import RateLimitState
from chainflow.gateway.websocket_limit import WebSocketSlot

__all__ = [
    "CredentialResolver",
    "CurrentPrincipal",
    "MountedRouter",
    "OverviewSource",
    "RateLimitState",
    "ReadinessProbe",
    "WebSocketSlot",
    "current_principal",
    "require_feature",
    "require_permission",
    "require_scope",
    "require_superadmin",
    "websocket_principal",
]


@dataclass(frozen=True, slots=True)
class MountedRouter:
    """A service's router and the prefix it is mounted under (``/api/v1`` by default)."""

    service: str
    router: APIRouter
    prefix: str = "/api/v1"
    tags: tuple[str, ...] = field(default_factory=tuple)


class CredentialResolver(Protocol):
    """Turns a verified credential into a ``Principal``; implemented by the users service.

    The gateway caches what these return (one cache hit per request on the hot path) and
    calls them only on a miss. ``None`` means the credential no longer grants access
    (session revoked, key revoked, user disabled, tenant gone).
    """

    async def resolve_session(
        self, user_id: UserId, tenant_id: TenantId, session_id: str
    ) -> Principal | None: ...

    async def resolve_api_key(self, key_hash: str) -> Principal | None: ...

    async def record_api_key_use(self, api_key_id: str, used_at_ms: int) -> None:
        """Store the key's last-used time (the gateway calls this at most once a minute)."""
        ...


# One named part of ``GET /api/v1/me/overview`` (profile, tier, limits, usage, ...).
OverviewSource = Callable[[Principal], Awaitable[dict[str, Any]]]
