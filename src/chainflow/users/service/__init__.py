"""The users service's application logic, split by use case.

Each service class takes a unit of work from its caller (the edge owns the transaction)
and never commits. ``UsersService`` bundles them; ``build_users_service`` is what the
composition root calls once per process.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.clock import Clock
from chainflow.core.settings import AuthSettings
from chainflow.core.tokens import AccessTokenCodec
from chainflow.hub.api import EventBus
from chainflow.storage.api import Cache
from chainflow.users.passwords import Argon2PasswordHasher
from chainflow.users.service.accounts import AccountService
from chainflow.users.service.admin import AdminService
from chainflow.users.service.api_keys import ApiKeyService
from chainflow.users.service.auth_throttle import AuthThrottle
from chainflow.users.service.context import (
    ApiKeyInvalidator,
    PrincipalCacheInvalidation,
    SessionInvalidator,
)
from chainflow.users.service.one_time_tokens import OneTimeTokens, TokenPurpose
from chainflow.users.service.sessions import SessionService
from chainflow.users.service.sign_in import SignInService
from chainflow.users.service.team import TeamService
from chainflow.users.service.trading_settings import TradingSettingsService


@dataclass(frozen=True, slots=True)
class UsersService:
    """Every use case of the users service, built once per process."""

    accounts: AccountService
    sign_in: SignInService
    sessions: SessionService
    throttle: AuthThrottle
    api_keys: ApiKeyService
    team: TeamService
    trading_settings: TradingSettingsService
    admin: AdminService


def build_users_service(
    *,
    auth: AuthSettings,
    requires_email_verification: bool,
    clock: Clock,
    bus: EventBus,
    access_tokens: AccessTokenCodec,
    cache: Cache,
    passwords: Argon2PasswordHasher | None = None,
    invalidate_session: SessionInvalidator | None = None,
    invalidate_api_key: ApiKeyInvalidator | None = None,
) -> UsersService:
    """Build the users service.

    ``invalidate_session`` and ``invalidate_api_key`` are the gateway's
    ``Authenticator.invalidate_session`` / ``invalidate_api_key``: they run after a commit
    that revokes a session or key, or changes the role, tier or limits its cached principal
    carries. ``cache`` holds the sign-in throttles' counters and locks: the shared cache,
    so that every process of the service counts the same attempts.
    """
    invalidation = PrincipalCacheInvalidation(
        invalidate_session=invalidate_session, invalidate_api_key=invalidate_api_key
    )
    hasher = passwords or Argon2PasswordHasher()
    sessions = SessionService(
        clock=clock,
        access_tokens=access_tokens,
        refresh_token_ttl_s=auth.refresh_token_ttl_s,
        invalidation=invalidation,
        reuse_grace_s=auth.refresh_reuse_grace_s,
    )
    one_time_tokens = OneTimeTokens(
        clock=clock,
        ttl_s={
            TokenPurpose.VERIFY: auth.verification_token_ttl_s,
            TokenPurpose.RESET: auth.password_reset_token_ttl_s,
        },
    )
    throttle = AuthThrottle(cache=cache, clock=clock, settings=auth)
    accounts = AccountService(
        clock=clock,
        bus=bus,
        passwords=hasher,
        one_time_tokens=one_time_tokens,
        sessions=sessions,
        throttle=throttle,
        requires_email_verification=requires_email_verification,
    )
    sign_in = SignInService(
        clock=clock,
        bus=bus,
        passwords=hasher,
        sessions=sessions,
        throttle=throttle,
        requires_email_verification=requires_email_verification,
    )
    return UsersService(
        accounts=accounts,
        sign_in=sign_in,
        sessions=sessions,
        throttle=throttle,
        api_keys=ApiKeyService(clock=clock, invalidation=invalidation, bus=bus),
        team=TeamService(
            clock=clock,
            bus=bus,
            passwords=hasher,
            invitation_ttl_s=auth.invitation_ttl_s,
            invalidation=invalidation,
        ),
        trading_settings=TradingSettingsService(),
        admin=AdminService(clock=clock, bus=bus, accounts=accounts, invalidation=invalidation),
    )


__all__ = ["UsersService", "build_users_service"]
