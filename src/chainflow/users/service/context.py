"""Who a service call acts for and as: tenant contexts, limits, cached-principal invalidation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from chainflow.core.auth import TIER_LIMITS, Principal, Tier, TierLimits
from chainflow.core.ids import TenantId, UserId
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import UnitOfWork
from chainflow.users.errors import SessionRequiredError
from chainflow.users.models import Tenant, User

SessionInvalidator = Callable[[str], Awaitable[None]]
"""Drops the cached principal of one session id (``Authenticator.invalidate_session``)."""
ApiKeyInvalidator = Callable[[str], Awaitable[None]]
"""Drops the cached principal of one API key hash (``Authenticator.invalidate_api_key``)."""


def tenant_context_of(user: User) -> TenantContext:
    """Return the tenant context a unit of work uses to act on ``user``'s tenant."""
    return TenantContext(
        tenant_id=TenantId(user.tenant_id), user_id=UserId(user.id), role=user.role
    )


def tenant_context_for(tenant_id: str) -> TenantContext:
    """Return a tenant context for a tenant named by a superadmin or a looked-up row."""
    return TenantContext(tenant_id=TenantId(tenant_id))


def limits_of(tenant: Tenant) -> TierLimits:
    """Return the tenant's limits: its tier's, with its stored overrides applied."""
    return TIER_LIMITS[Tier(tenant.tier)].with_overrides(tenant.limit_overrides or {})


def require_session(principal: Principal, action: str) -> None:
    """Raise ``SessionRequiredError`` unless ``principal`` signed in with a password (JWT)."""
    if principal.auth_method != "jwt":
        raise SessionRequiredError(
            f"{action} needs a signed-in user's access token; received an API key"
        )


@dataclass(frozen=True, slots=True)
class PrincipalCacheInvalidation:
    """Tells the gateway, after a commit, which cached principals are stale.

    A session's or key's principal is stale when it is revoked, or when the role, tier or
    limits it carries change. Without callbacks (no gateway in this process) it does nothing.
    """

    invalidate_session: SessionInvalidator | None = None
    invalidate_api_key: ApiKeyInvalidator | None = None

    def after_commit(
        self,
        uow: UnitOfWork,
        *,
        session_ids: Iterable[str] = (),
        api_key_hashes: Iterable[str] = (),
    ) -> None:
        """Invalidate ``session_ids`` and ``api_key_hashes`` once ``uow`` commits."""
        sessions, keys = sorted(set(session_ids)), sorted(set(api_key_hashes))
        if not sessions and not keys:
            return

        async def invalidate() -> None:
            if self.invalidate_session is not None:
                for session_id in sessions:
                    await self.invalidate_session(session_id)
            if self.invalidate_api_key is not None:
                for key_hash in keys:
                    await self.invalidate_api_key(key_hash)

        uow.after_commit(invalidate)
