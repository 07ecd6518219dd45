"""Accounts: registration, e-mail verification, password reset and the profile.

Sign-in lives in ``sign_in.py``. Passwords are hashed before the unit of work opens
(``prepare_registration``, ``prepare_new_password``), so argon2 never holds the write lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chainflow.core.auth import Principal, Role, Tier, TierLimits
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, UserId, new_id
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.errors import UserNotFoundError
from chainflow.users.events import (
    DuplicateRegistrationAttempted,
    PasswordChanged,
    PasswordResetRequested,
    VerificationRequested,
    duplicate_registration_attempted_topic,
    password_changed_topic,
    password_reset_requested_topic,
    publish_after_commit,
    verification_requested_topic,
)
from chainflow.users.identity import (
    DEFAULT_LOCALE,
    DEFAULT_TIMEZONE,
    normalize_email,
    validate_locale,
    validate_name,
    validate_timezone,
)
from chainflow.users.models import Tenant, User
from chainflow.users.passwords import Argon2PasswordHasher, require_strong_password
from chainflow.users.repository import CrossTenantLookup, TenantRecordRepository, UserRepository
from chainflow.users.service.auth_throttle import AuthThrottle
from chainflow.users.service.context import (
    limits_of,
    require_session,
    tenant_context_for,
)
from chainflow.users.service.one_time_tokens import IssuedToken, OneTimeTokens, TokenPurpose
from chainflow.users.service.profile_cache import ProfileCache
from chainflow.users.service.sessions import ClientInfo, SessionService


@dataclass(frozen=True, slots=True)
class Registration:
    user_id: UserId
    tenant_id: TenantId
    verification_required: bool


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """A registration checked and hashed before any transaction opens."""

    email: str
    name: str | None
    password_hash: str = field(repr=False)
    ip: str | None


@dataclass(frozen=True, slots=True)
class NewPassword:
    """A new password checked against the policy (without the address) and hashed."""

    password: str = field(repr=False)
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Profile:
    """A user as they see themselves (``GET /api/v1/users/me``)."""

    user_id: UserId
    tenant_id: TenantId
    email: str
    role: Role
    tier: Tier
    name: str
    locale: str
    timezone: str
    email_verified: bool
    is_superadmin: bool
    limits: TierLimits


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """Fields to change; ``None`` leaves a field as it is."""

    name: str | None = None
    locale: str | None = None
    timezone: str | None = None


class AccountService:
    """Who has an account, and how they prove their address. Never commits: the caller's
    unit of work does.

    The unauthenticated entry points (register, verify, password reset) take a
    ``system=True`` unit of work: nobody is signed in yet, so the tenant is known only once
    the e-mail address or the presented token has found its row.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        passwords: Argon2PasswordHasher,
        one_time_tokens: OneTimeTokens,
        sessions: SessionService,
        throttle: AuthThrottle,
        requires_email_verification: bool,
        profiles: ProfileCache | None = None,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._passwords = passwords
        self._one_time_tokens = one_time_tokens
        self._sessions = sessions
        self._throttle = throttle
        self._requires_email_verification = requires_email_verification
        self.profiles = profiles or ProfileCache(clock)

    async def prepare_registration(
        self, email: str, password: str, name: str | None = None, *, ip: str | None = None
    ) -> RegistrationRequest:
        """Check the address, name and password policy and hash the password.

        Run it before opening the unit of work: argon2 must not hold the write lock.
        """
        normalized = normalize_email(email)
        display_name = validate_name(name)
        require_strong_password(password, normalized)
        password_hash = await self._passwords.hash(password)
        return RegistrationRequest(normalized, display_name, password_hash, ip)

    async def register(self, uow: UnitOfWork, request: RegistrationRequest) -> Registration:
        """Create a personal tenant (free tier) owned by a new user; send a verification token.

        An address that already has an account gets the same answer, with fresh ids that
        name nothing, so registration does not tell who has an account: nothing is created
        and the owner is told that someone tried (at most once an hour per address).
        """
        existing = await CrossTenantLookup(uow.session).user_by_email(request.email)
        if existing is not None:
            if await self._throttle.is_first_duplicate_registration(request.email):
                event = DuplicateRegistrationAttempted(
                    user_id=existing.id,
                    tenant_id=existing.tenant_id,
                    email=existing.email,
                    locale=existing.locale,
                    ip=request.ip,
                    ts_event_ms=self._clock.now_ms(),
                )
                topic = duplicate_registration_attempted_topic()
                publish_after_commit(uow, self._bus, topic, event)
            return Registration(
                UserId(new_id()), TenantId(new_id()), self._requires_email_verification
            )
        tenant = await TenantRecordRepository(uow.session).add(
            Tenant(name=request.name or request.email, tier=Tier.FREE.value, limit_overrides={})
        )
        user = await UserRepository(uow.session, tenant_context_for(tenant.id)).add_user(
            User(
                email=request.email,
                password_hash=request.password_hash,
                name=request.name,
                locale=DEFAULT_LOCALE,
                timezone=DEFAULT_TIMEZONE,
                role=Role.OWNER.value,
                is_superadmin=False,
                is_active=True,
            )
        )
        await self.send_verification(uow, user)
        return Registration(UserId(user.id), TenantId(tenant.id), self._requires_email_verification)

    async def send_verification(self, uow: UnitOfWork, user: User) -> IssuedToken:
        """Issue a fresh verification token for ``user``; publish it after the commit."""
        issued = await self._one_time_tokens.issue(uow, user, TokenPurpose.VERIFY)
        event = VerificationRequested(
            user_id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            locale=user.locale,
            token=issued.token,
            expires_at_ms=int(issued.expires_at.timestamp() * 1000),
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, verification_requested_topic(), event)
        return issued

    async def verify_email(self, uow: UnitOfWork, token: str) -> UserId:
        """Redeem a verification token and mark its user's e-mail address verified."""
        user = await self._one_time_tokens.redeem(uow, token, TokenPurpose.VERIFY)
        if user.email_verified_at is None:
            user.email_verified_at = self._clock.now()
            self.profiles.forget_on_commit(uow, user.id)
        return UserId(user.id)

    async def request_password_reset(self, uow: UnitOfWork, email: str) -> None:
        """Send a reset token when the address has an active account; say nothing otherwise."""
        user = await CrossTenantLookup(uow.session).user_by_email(normalize_email(email))
        if user is None or not user.is_active:
            return
        issued = await self._one_time_tokens.issue(uow, user, TokenPurpose.RESET)
        event = PasswordResetRequested(
            user_id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            locale=user.locale,
            token=issued.token,
            expires_at_ms=int(issued.expires_at.timestamp() * 1000),
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, password_reset_requested_topic(), event)

    async def prepare_new_password(self, password: str) -> NewPassword:
        """Check ``password`` against the policy and hash it, before any transaction opens.

        ``confirm_password_reset`` checks the rule that needs the account's address.
        """
        require_strong_password(password)
        return NewPassword(password, await self._passwords.hash(password))

    async def confirm_password_reset(
        self,
        uow: UnitOfWork,
        token: str,
        new_password: NewPassword,
        client: ClientInfo | None = None,
    ) -> None:
        """Redeem a reset token, set the new password and sign the user out everywhere;
        the owner is told after the commit (a security notice)."""
        user = await self._one_time_tokens.redeem(uow, token, TokenPurpose.RESET)
        require_strong_password(new_password.password, user.email)
        user.password_hash = new_password.password_hash
        if user.email_verified_at is None:
            # The token reached the inbox, which proves the address as well as a
            # verification token would.
            user.email_verified_at = self._clock.now()
            self.profiles.forget_on_commit(uow, user.id)
        await self._sessions.revoke_all(uow, user)
        event = PasswordChanged(
            user_id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            locale=user.locale,
            ip=client.ip if client is not None else None,
            user_agent=client.user_agent if client is not None else None,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, password_changed_topic(), event)

    async def get_profile(self, uow: UnitOfWork, principal: Principal) -> Profile:
        """Return the caller's profile with their tenant's tier and limits.

        Role, tier and limits are the principal's (as current as the access it grants); the
        personal part is ``profiles``' when held, else one query of ``uow`` (which is
        therefore not touched on a warm read).
        """
        details = self.profiles.get(principal.user_id)
        if details is None:
            generation = self.profiles.generation
            repository = UserRepository(uow.session, principal.tenant)
            details = await repository.personal_details(principal.user_id)
            if details is None:
                raise UserNotFoundError(
                    "expected the signed-in user to exist; it was deleted. Sign in again."
                )
            self.profiles.put(principal.user_id, details, generation)
        return Profile(
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            email=details.email,
            role=principal.role,
            tier=principal.tier,
            name=details.name,
            locale=details.locale,
            timezone=details.timezone,
            email_verified=details.email_verified,
            is_superadmin=details.is_superadmin,
            limits=principal.limits,
        )

    async def update_profile(
        self, uow: UnitOfWork, principal: Principal, update: ProfileUpdate
    ) -> Profile:
        """Change the caller's name, locale or time zone; return the new profile."""
        require_session(principal, "changing the profile")
        user = await self._current_user(uow, principal)
        self.profiles.forget_on_commit(uow, user.id)
        if update.name is not None:
            user.name = validate_name(update.name)
        if update.locale is not None:
            user.locale = validate_locale(update.locale)
        if update.timezone is not None:
            user.timezone = validate_timezone(update.timezone)
        return await self._profile(uow, user)

    async def _current_user(self, uow: UnitOfWork, principal: Principal) -> User:
        user = await UserRepository(uow.session, principal.tenant).get(principal.user_id)
        if user is None:
            raise UserNotFoundError(
                "expected the signed-in user to exist; it was deleted. Sign in again."
            )
        return user

    async def _profile(self, uow: UnitOfWork, user: User) -> Profile:
        tenant = await TenantRecordRepository(uow.session).get_one(user.tenant_id)
        return Profile(
            user_id=UserId(user.id),
            tenant_id=TenantId(user.tenant_id),
            email=user.email,
            role=Role(user.role),
            tier=Tier(tenant.tier),
            name=user.name,
            locale=user.locale,
            timezone=user.timezone,
            email_verified=user.email_verified_at is not None,
            is_superadmin=user.is_superadmin,
            limits=limits_of(tenant),
        )
