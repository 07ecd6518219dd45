"""FastAPI dependencies every service's routes use to know and check their caller.

``CurrentPrincipal`` authenticates the request (``Authorization: Bearer``), charges it to
the tenant's rate limit and binds ``tenant_id``/``user_id`` to the log context. The
``require_*`` factories build dependencies that also check one permission, scope, feature
or superadmin, and return the same ``Principal``. Each of them authenticates by itself
rather than through a ``Depends(current_principal)`` level (FastAPI resolves every level
anew on each request: a tenth of a warm read's time, benchmarks/http.py); the principal is
kept on the request, so a route that uses several of them is still authenticated and
charged once.

The ``Authenticator`` and ``RateLimiter`` are found on ``app.state`` (``create_gateway``
puts them there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPBearer
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from chainflow.core.auth import Feature, Permission, Principal, Scope
from chainflow.core.errors import ConfigurationError, FeatureNotInTierError, PermissionDeniedError
from chainflow.core.logging import bind_request_context
from chainflow.gateway.auth import Authenticator
from chainflow.gateway.errors import ScopeDeniedError
from chainflow.gateway.rate_limit import REQUEST_STATE_ATTRIBUTE, RateLimiter

PrincipalDependency = Callable[..., Awaitable[Principal]]
PrincipalCheck = Callable[[Principal], None]
_StateValue = TypeVar("_StateValue")

# The bearer scheme as OpenAPI shows it (the "Authorize" button of /docs); the header itself
# is parsed by the Authenticator, which also accepts API keys.
_BEARER_MODEL = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An access token from /api/v1/auth/login, or an API key (cfk_...).",
).model
_PRINCIPAL_STATE_KEY = "chainflow_principal"


class PrincipalScheme(SecurityBase):
    """A dependency that is also the bearer security scheme: it authenticates and charges
    the request, runs its check, and returns the caller.

    Being the scheme itself (rather than depending on an ``HTTPBearer``), it puts the same
    security requirement in OpenAPI with one level of dependencies fewer to solve on every
    request: FastAPI solves each level anew (path, query, header and cookie parameters each),
    which was a fifth of ``GET /api/v1/signals``'s time (benchmarks/http.py).
    """

    def __init__(self, check: PrincipalCheck | None = None) -> None:
        self.model = _BEARER_MODEL
        self.scheme_name = "bearer"
        self._check = check

    async def __call__(self, request: Request) -> Principal:
        principal = await _principal_of(request)
        if self._check is not None:
            self._check(principal)
        return principal


async def _principal_of(request: Request) -> Principal:
    """Authenticate and charge ``request`` the first time it is asked; then recall it."""
    state = request.scope.setdefault("state", {})
    principal: Principal | None = state.get(_PRINCIPAL_STATE_KEY)
    if principal is not None:
        return principal
    authenticator = _from_app_state(request, "authenticator", Authenticator)
    rate_limiter = _from_app_state(request, "rate_limiter", RateLimiter)
    principal = await authenticator.authenticate(request.headers.get("authorization"))
    bind_request_context(tenant_id=principal.tenant_id, user_id=principal.user_id)
    state[REQUEST_STATE_ATTRIBUTE] = await rate_limiter.check(principal)
    state[_PRINCIPAL_STATE_KEY] = principal
    return principal


# Authenticate the request, charge it to the tenant's rate limit, return the caller.
current_principal = PrincipalScheme()
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_permission(permission: Permission) -> PrincipalDependency:
    """Return a dependency that yields the caller if it holds ``permission`` (else 403)."""

    def check(principal: Principal) -> None:
        if not principal.has_permission(permission):
            raise PermissionDeniedError(
                f"this action needs the permission {permission.value!r}; the caller's "
                f"{_grant_source(principal)} does not grant it",
                details={"required_permission": permission.value},
            )

    return PrincipalScheme(check)


def require_scope(scope: Scope) -> PrincipalDependency:
    """Return a dependency that yields the caller if it holds ``scope`` (else 403)."""

    def check(principal: Principal) -> None:
        if not principal.has_scope(scope):
            held = ", ".join(sorted(s.value for s in principal.scopes)) or "none"
            raise ScopeDeniedError(
                f"this action needs the scope {scope.value!r}; the caller holds {held}",
                details={"required_scope": scope.value},
            )

    return PrincipalScheme(check)


def require_feature(feature: Feature) -> PrincipalDependency:
    """Return a dependency that yields the caller if its tier includes ``feature`` (else 403)."""

    def check(principal: Principal) -> None:
        if not principal.has_feature(feature):
            raise FeatureNotInTierError(
                f"this action needs the feature {feature.value!r}, which tier "
                f"{principal.tier.value!r} does not include; upgrade to use it",
                details={"required_feature": feature.value, "tier": principal.tier.value},
            )

    return PrincipalScheme(check)


def _check_superadmin(principal: Principal) -> None:
    if not principal.is_superadmin:
        raise PermissionDeniedError(
            f"this action needs the permission {Permission.PLATFORM_ADMIN.value!r} of a "
            "platform superadmin; the caller is not one",
            details={"required_permission": Permission.PLATFORM_ADMIN.value},
        )


# Yield the caller if it is a platform superadmin (else 403 ``permission_denied``).
require_superadmin = PrincipalScheme(_check_superadmin)


async def websocket_principal(websocket: WebSocket) -> Principal:
    """Authenticate a WebSocket handshake from its ``Authorization`` header, or from an
    ``access_token`` or ``api_key`` query parameter for clients that cannot set headers."""
    authenticator = _from_app_state(websocket, "authenticator", Authenticator)
    header = websocket.headers.get("authorization")
    query = websocket.query_params
    principal = await authenticator.authenticate(
        header or query.get("access_token"), api_key_query=query.get("api_key")
    )
    bind_request_context(tenant_id=principal.tenant_id, user_id=principal.user_id)
    return principal


def _grant_source(principal: Principal) -> str:
    if principal.auth_method == "api_key":
        scopes = ", ".join(sorted(s.value for s in principal.scopes)) or "none"
        return f"API key scopes ({scopes}) within role {principal.role.value!r}"
    return f"role {principal.role.value!r}"


def _from_app_state(
    connection: HTTPConnection, name: str, expected: type[_StateValue]
) -> _StateValue:
    value = getattr(connection.app.state, name, None)
    if not isinstance(value, expected):
        raise ConfigurationError(
            f"app.state.{name} must be a {expected.__name__} (pass it to create_gateway); "
            f"received {type(value).__name__}"
        )
    return value
