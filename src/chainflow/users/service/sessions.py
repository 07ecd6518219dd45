"""Sessions: refresh-token families, rotation with reuse detection, listing and revocation.

A session is a family of refresh tokens sharing ``family_id`` (the ``sid`` claim of the
access tokens issued with them). Each refresh marks the presented token used and issues
its successor. Presenting a used token again means that a copy leaked: the whole family
is revoked and the caller gets ``refresh_token_reused``. Of two concurrent refreshes of
one token exactly one wins (the loser is treated as a reuse, because the two cannot be
told apart from a thief racing the owner) unless the grace below applies.

Grace (``CHAINFLOW_AUTH_REFRESH_REUSE_GRACE_S``, 10 s by default, 0 turns it off): a token
presented again within the grace after its rotation, while its successor was never
presented, is a retry whose answer was lost (a page reloaded mid-refresh, a dropped
connection) or a second tab refreshing at the same moment: the session continues with
another successor. Once the successor has been used, or after the grace, it is a reuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chainflow.core.auth import Principal, Role, Tier
from chainflow.core.clock import Clock
from chainflow.core.errors import ChainflowError
from chainflow.core.ids import TenantId, UserId, new_id
from chainflow.core.tokens import AccessTokenCodec, generate_token, hash_token
from chainflow.storage.relational import UnitOfWork
from chainflow.users.api import SessionId
from chainflow.users.errors import (
    AccountDisabledError,
    InvalidRefreshTokenError,
    RefreshTokenExpiredError,
    RefreshTokenReusedError,
    SessionNotFoundError,
    SessionRevokedError,
)
from chainflow.users.models import RefreshToken, Tenant, User
from chainflow.users.repository import (
    CrossTenantLookup,
    RefreshTokenRepository,
    TenantRecordRepository,
)
from chainflow.users.service.context import (
    PrincipalCacheInvalidation,
    require_session,
    tenant_context_for,
    tenant_context_of,
)

USER_AGENT_LENGTH = 400
IP_LENGTH = 64


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Where a sign-in came from, shown in the sessions list."""

    user_agent: str | None = None
    ip: str | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a sign-in or refresh returns; the refresh token is shown once."""

    access_token: str
    refresh_token: str
    expires_in: int
    session_id: SessionId


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refusal whose database changes must still be committed (a revoked family).

    The route raises ``error`` after its unit of work has committed.
    """

    error: ChainflowError


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: SessionId
    started_at: datetime
    last_refreshed_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    is_current: bool


class SessionService:
    """Open, rotate, list and revoke sessions. Never commits: the caller's unit of work does."""

    def __init__(
        self,
        *,
        clock: Clock,
        access_tokens: AccessTokenCodec,
        refresh_token_ttl_s: int,
        invalidation: PrincipalCacheInvalidation,
        reuse_grace_s: float = 0.0,
    ) -> None:
        self._clock = clock
        self._access_tokens = access_tokens
        self._refresh_ttl = timedelta(seconds=refresh_token_ttl_s)
        self._reuse_grace = timedelta(seconds=reuse_grace_s)
        self._invalidation = invalidation

    async def open_session(
        self, uow: UnitOfWork, user: User, tenant: Tenant, client: ClientInfo
    ) -> TokenPair:
        """Start a new session for ``user`` and return its first token pair."""
        family_id = new_id()
        return await self._issue(uow, user, tenant, family_id, client, token_id=new_id())

    async def refresh(
        self, uow: UnitOfWork, raw_refresh_token: str, client: ClientInfo
    ) -> TokenPair | Rejected:
        """Rotate the presented refresh token; ``uow`` is a ``system=True`` unit of work.

        Return the next token pair, or ``Rejected`` when the token is unknown, expired,
        revoked or reused (a reuse revokes the whole session, which the commit keeps).
        """
        lookup = CrossTenantLookup(uow.session)
        row = await lookup.refresh_token_by_hash(hash_token(raw_refresh_token.strip()))
        if row is None:
            return Rejected(
                InvalidRefreshTokenError(
                    "expected a refresh token issued by ChainFlow; received an unknown token"
                )
            )
        if row.revoked_at is not None:
            return Rejected(
                SessionRevokedError(
                    "expected the refresh token of an active session; its session was "
                    "revoked (signed out, password reset or reuse). Sign in again."
                )
            )
        now = self._clock.now()
        if row.used_at is not None and not await self._is_retry(uow, row, now):
            return await self._reject_reuse(uow, row)
        if row.expires_at <= now:
            return Rejected(
                RefreshTokenExpiredError(
                    f"expected an unexpired refresh token; received one that expired at "
                    f"{row.expires_at.isoformat()}. Sign in again."
                )
            )
        user = await lookup.user_by_id(row.user_id)
        tenant = await TenantRecordRepository(uow.session).get(row.tenant_id)
        if user is None or tenant is None or not user.is_active:
            await self._revoke_family(uow, row)
            return Rejected(
                AccountDisabledError(
                    "expected the refresh token of an active account; the account is "
                    "disabled or gone"
                )
            )
        next_token_id = new_id()
        if row.used_at is None:
            tokens = RefreshTokenRepository(uow.session, tenant_context_of(user))
            won = await tokens.mark_used(row.id, used_at=now, replaced_by=next_token_id)
            # The loser of two concurrent rotations lost to a rotation made just now.
            if not won and self._reuse_grace <= timedelta(0):
                return await self._reject_reuse(uow, row)
        return await self._issue(uow, user, tenant, row.family_id, client, token_id=next_token_id)

    async def logout(self, uow: UnitOfWork, raw_refresh_token: str) -> None:
        """Revoke the session of the presented refresh token (unknown tokens are ignored)."""
        row = await CrossTenantLookup(uow.session).refresh_token_by_hash(
            hash_token(raw_refresh_token.strip())
        )
        if row is not None:
            await self._revoke_family(uow, row)

    async def list_sessions(self, uow: UnitOfWork, principal: Principal) -> list[SessionInfo]:
        """Return the caller's active sessions, most recently refreshed first."""
        require_session(principal, "listing sessions")
        tokens = RefreshTokenRepository(uow.session, principal.tenant)
        rows = await tokens.active_sessions(principal.user_id, now=self._clock.now())
        return [
            SessionInfo(
                session_id=SessionId(row.token.family_id),
                started_at=row.started_at,
                last_refreshed_at=row.token.issued_at,
                expires_at=row.token.expires_at,
                user_agent=row.token.user_agent,
                ip=row.token.ip,
                is_current=row.token.family_id == principal.session_id,
            )
            for row in rows
        ]

    async def revoke_session(self, uow: UnitOfWork, principal: Principal, session_id: str) -> None:
        """Revoke one of the caller's sessions; another user's or tenant's is not found."""
        require_session(principal, "revoking a session")
        tokens = RefreshTokenRepository(uow.session, principal.tenant)
        now = self._clock.now()
        if not await tokens.is_session_active(session_id, principal.user_id, now=now):
            raise SessionNotFoundError(
                f"expected the id of one of your active sessions; received {session_id[:64]!r}"
            )
        await tokens.revoke_family(session_id, revoked_at=now)
        self._invalidation.after_commit(uow, session_ids=[session_id])

    async def revoke_all(self, uow: UnitOfWork, user: User) -> None:
        """Revoke every session of ``user`` (password reset, disabled account)."""
        tokens = RefreshTokenRepository(uow.session, tenant_context_of(user))
        revoked = await tokens.revoke_user_sessions(user.id, revoked_at=self._clock.now())
        self._invalidation.after_commit(uow, session_ids=revoked)

    async def _issue(
        self,
        uow: UnitOfWork,
        user: User,
        tenant: Tenant,
        family_id: str,
        client: ClientInfo,
        *,
        token_id: str,
    ) -> TokenPair:
        now = self._clock.now()
        raw = generate_token()
        await RefreshTokenRepository(uow.session, tenant_context_of(user)).add(
            RefreshToken(
                id=token_id,
                user_id=user.id,
                family_id=family_id,
                token_hash=hash_token(raw),
                issued_at=now,
                expires_at=now + self._refresh_ttl,
                user_agent=(client.user_agent or None) and client.user_agent[:USER_AGENT_LENGTH],
                ip=(client.ip or None) and client.ip[:IP_LENGTH],
            )
        )
        access_token, expires_in = self._access_tokens.issue(
            UserId(user.id), TenantId(user.tenant_id), Role(user.role), Tier(tenant.tier), family_id
        )
        return TokenPair(access_token, raw, expires_in, SessionId(family_id))

    async def _is_retry(self, uow: UnitOfWork, row: RefreshToken, now: datetime) -> bool:
        """Whether a used token presented again falls in the grace (see the module doc)."""
        if row.used_at is None or row.replaced_by is None:
            return False
        if not now - row.used_at < self._reuse_grace:
            return False
        tokens = RefreshTokenRepository(uow.session, tenant_context_for(row.tenant_id))
        return await tokens.is_unused(row.replaced_by)

    async def _reject_reuse(self, uow: UnitOfWork, row: RefreshToken) -> Rejected:
        await self._revoke_family(uow, row)
        return Rejected(
            RefreshTokenReusedError(
                "expected a refresh token that was not used before; received one already "
                "rotated, so its session was revoked. Sign in again."
            )
        )

    async def _revoke_family(self, uow: UnitOfWork, row: RefreshToken) -> None:
        tokens = RefreshTokenRepository(uow.session, tenant_context_for(row.tenant_id))
        await tokens.revoke_family(row.family_id, revoked_at=self._clock.now())
        self._invalidation.after_commit(uow, session_ids=[row.family_id])
