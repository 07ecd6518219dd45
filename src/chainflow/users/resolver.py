"""The users service's answer to the gateway's ``CredentialResolver``.

The gateway verifies a credential (a JWT's signature, an API key's shape), then asks here,
on a cache miss only, which ``Principal`` it stands for now. ``None`` means the credential
no longer grants access: session revoked or expired, key revoked, user disabled or moved,
tenant gone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chainflow.core.auth import ROLE_SCOPES, Principal, Role, Scope, Tier
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, UserId
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database
from chainflow.users.repository import (
    CrossTenantLookup,
    RefreshTokenRepository,
    TenantRecordRepository,
    UserRepository,
)
from chainflow.users.service.context import limits_of

KNOWN_SCOPES = frozenset(scope.value for scope in Scope)


class UsersCredentialResolver:
    """Resolve sessions and API keys to principals from the users tables."""

    def __init__(self, *, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def resolve_session(
        self, user_id: UserId, tenant_id: TenantId, session_id: str
    ) -> Principal | None:
        """Return the principal of an active session of ``user_id`` in ``tenant_id``."""
        # The tenant comes from a JWT whose signature the gateway has verified, so this
        # unit of work is scoped to it and PostgreSQL RLS applies as for any request.
        tenant_context = TenantContext(tenant_id=tenant_id, user_id=user_id)
        async with self._database.unit_of_work(tenant_context, read_only=True) as uow:
            sessions = RefreshTokenRepository(uow.session, tenant_context)
            now = self._clock.now()
            if not await sessions.is_session_active(session_id, user_id, now=now):
                return None
            user = await UserRepository(uow.session, tenant_context).get(user_id)
            tenant = await TenantRecordRepository(uow.session).get(tenant_id)
        if user is None or tenant is None or not user.is_active:
            return None
        role = Role(user.role)
        return Principal(
            user_id=user_id,
            tenant_id=tenant_id,
            role=role,
            tier=Tier(tenant.tier),
            limits=limits_of(tenant),
            scopes=ROLE_SCOPES[role],
            auth_method="jwt",
            is_superadmin=user.is_superadmin,
            session_id=session_id,
        )

    async def resolve_api_key(self, key_hash: str) -> Principal | None:
        """Return the principal of the active API key whose SHA-256 is ``key_hash``."""
        # A key is presented before its tenant is known, so the lookup runs in a system
        # unit of work. That is safe: ``key_hash`` is the digest of a 256-bit random secret
        # and the unique key of exactly one row; nothing else is read across tenants, and
        # the principal's tenant is taken from that row, never from the caller.
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            lookup = CrossTenantLookup(uow.session)
            api_key = await lookup.api_key_by_hash(key_hash)
            if api_key is None or api_key.revoked_at is not None:
                return None
            creator = await lookup.user_by_id(api_key.created_by)
            tenant = await TenantRecordRepository(uow.session).get(api_key.tenant_id)
        if (
            creator is None
            or tenant is None
            or not creator.is_active
            or creator.tenant_id != api_key.tenant_id
        ):
            return None
        role = Role(creator.role)
        # A key never grants more than its creator's role grants today.
        stored = frozenset(Scope(s) for s in api_key.scopes if s in KNOWN_SCOPES)
        return Principal(
            user_id=UserId(creator.id),
            tenant_id=TenantId(api_key.tenant_id),
            role=role,
            tier=Tier(tenant.tier),
            limits=limits_of(tenant),
            scopes=stored & ROLE_SCOPES[role],
            auth_method="api_key",
            is_superadmin=False,
            api_key_id=api_key.id,
        )

    async def record_api_key_use(self, api_key_id: str, used_at_ms: int) -> None:
        """Store when the key was last used (the gateway calls this at most once a minute)."""
        # By id, in a system unit of work: the gateway resolved the key's row just before,
        # and this writes only its ``last_used_at``.
        used_at = datetime.fromtimestamp(used_at_ms / 1000, tz=UTC)
        async with self._database.unit_of_work(system=True) as uow:
            await CrossTenantLookup(uow.session).record_api_key_use(api_key_id, used_at=used_at)
