"""Single-use, expiring tokens: e-mail verification and password reset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chainflow.core.clock import Clock
from chainflow.core.tokens import generate_token, hash_token
from chainflow.storage.relational import UnitOfWork
from chainflow.users.errors import (
    OneTimeTokenExpiredError,
    OneTimeTokenInvalidError,
    OneTimeTokenUsedError,
)
from chainflow.users.models import OneTimeToken, User
from chainflow.users.repository import CrossTenantLookup, OneTimeTokenRepository
from chainflow.users.service.context import tenant_context_of


class TokenPurpose(StrEnum):
    VERIFY = "verify"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A raw single-use token (shown or sent once, stored only as a hash)."""

    token: str
    expires_at: datetime


class OneTimeTokens:
    """Issue and redeem single-use tokens; a new token retires the user's earlier ones."""

    def __init__(self, *, clock: Clock, ttl_s: dict[TokenPurpose, int]) -> None:
        self._clock = clock
        self._ttl_s = ttl_s

    async def issue(self, uow: UnitOfWork, user: User, purpose: TokenPurpose) -> IssuedToken:
        """Store a new token of ``purpose`` for ``user`` and return it raw."""
        now = self._clock.now()
        repository = OneTimeTokenRepository(uow.session, tenant_context_of(user))
        await repository.expire_unused(user.id, purpose.value, used_at=now)
        raw = generate_token()
        expires_at = now + timedelta(seconds=self._ttl_s[purpose])
        await repository.add(
            OneTimeToken(
                user_id=user.id,
                purpose=purpose.value,
                token_hash=hash_token(raw),
                issued_at=now,
                expires_at=expires_at,
            )
        )
        return IssuedToken(token=raw, expires_at=expires_at)

    async def redeem(self, uow: UnitOfWork, raw: str, purpose: TokenPurpose) -> User:
        """Mark the token used and return its user; raise when it is unknown, used or expired.

        ``uow`` is a ``system=True`` unit of work: the token is presented before anyone is
        signed in, and its hash is the only key that finds it.
        """
        lookup = CrossTenantLookup(uow.session)
        row = await lookup.one_time_token_by_hash(hash_token(raw.strip()), purpose.value)
        what = "verification" if purpose is TokenPurpose.VERIFY else "password reset"
        if row is None:
            raise OneTimeTokenInvalidError(
                f"expected a {what} token issued by ChainFlow; received an unknown token"
            )
        if row.used_at is not None:
            raise OneTimeTokenUsedError(
                f"a {what} token works once; received one that was already used or replaced"
            )
        now = self._clock.now()
        if row.expires_at <= now:
            raise OneTimeTokenExpiredError(
                f"expected an unexpired {what} token; received one that expired at "
                f"{row.expires_at.isoformat()}. Ask for a new one."
            )
        user = await lookup.user_by_id(row.user_id)
        if user is None:
            raise OneTimeTokenInvalidError(
                f"expected a {what} token of an existing account; its account is gone"
            )
        repository = OneTimeTokenRepository(uow.session, tenant_context_of(user))
        if not await repository.consume(row.id, used_at=now):
            raise OneTimeTokenUsedError(
                f"a {what} token works once; received one that was used concurrently"
            )
        return user
