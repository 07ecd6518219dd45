"""Sign-in: check the password with no transaction open, then open the session briefly.

argon2 takes a core for about a tenth of a second on purpose. Checked inside the unit of
work, it held SQLite's write lock (``BEGIN IMMEDIATE``) and a pooled connection the whole
time, so a burst of sign-ins queued past the busy timeout ("database is locked", 500) and
stalled every other tenant's writes. The route therefore runs four steps::

    attempt = await sign_in.check(email, client)                # throttle; no database
    async with database.unit_of_work(system=True, read_only=True) as uow:
        account = await sign_in.find_account(uow, attempt)       # a snapshot, no lock
    verified = await sign_in.verify(attempt, account, password)  # argon2, no transaction
    async with database.unit_of_work(system=True) as uow:
        pair = await sign_in.open_session(uow, verified)         # a short write

The hasher runs at most one argon2 per core at once, so a flood queues there. An unknown
address costs the same verification as a wrong password, counts against the same
throttles and gets the same answer, so neither time nor locks tell which accounts exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidCredentialsError
from chainflow.hub.api import EventBus
from chainflow.storage.relational import UnitOfWork
from chainflow.users.errors import (
    AccountDisabledError,
    EmailNotVerifiedError,
    InvalidEmailError,
)
from chainflow.users.events import (
    SignedIn,
    SignInLocked,
    publish_after_commit,
    publish_now,
    sign_in_locked_topic,
    signed_in_topic,
)
from chainflow.users.identity import normalize_email
from chainflow.users.passwords import Argon2PasswordHasher
from chainflow.users.repository import CrossTenantLookup, TenantRecordRepository
from chainflow.users.service.auth_throttle import AuthThrottle
from chainflow.users.service.sessions import ClientInfo, SessionService, TokenPair
from chainflow.users.throttle import Lock

INVALID_CREDENTIALS_MESSAGE = (
    "expected the e-mail address and password of an account; received a combination that "
    "matches none"
)
ACCOUNT_DISABLED_MESSAGE = "expected an active account; this account is disabled. Contact support."


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    """An attempt the throttles let through: the address as typed and normalized."""

    email: str
    normalized_email: str | None
    client: ClientInfo


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """What the read step found for the address (read without a write lock)."""

    user_id: str
    tenant_id: str
    email: str
    locale: str
    password_hash: str
    is_active: bool
    is_email_verified: bool
    has_tenant: bool


@dataclass(frozen=True, slots=True)
class VerifiedSignIn:
    """A checked password: the hash it matched and, when the parameters changed, a new one."""

    user_id: str
    client: ClientInfo
    password_hash: str
    new_password_hash: str | None


class SignInService:
    """The four steps of a sign-in (see the module). Never commits: the caller's units do."""

    def __init__(
        self,
        *,
        clock: Clock,
        bus: EventBus,
        passwords: Argon2PasswordHasher,
        sessions: SessionService,
        throttle: AuthThrottle,
        requires_email_verification: bool,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._passwords = passwords
        self._sessions = sessions
        self._throttle = throttle
        self._requires_email_verification = requires_email_verification

    async def check(self, email: str, client: ClientInfo) -> SignInAttempt:
        """Raise ``TooManyAttemptsError`` while the address or the client is locked."""
        await self._throttle.check_sign_in(email, client.ip)
        try:
            normalized: str | None = normalize_email(email)
        except InvalidEmailError:
            normalized = None
        return SignInAttempt(email=email, normalized_email=normalized, client=client)

    async def find_account(self, uow: UnitOfWork, attempt: SignInAttempt) -> AccountSnapshot | None:
        """Return the account of the address, or ``None``; ``uow`` is system and read-only."""
        if attempt.normalized_email is None:
            return None
        lookup = CrossTenantLookup(uow.session)
        user = await lookup.user_by_email(attempt.normalized_email)
        if user is None:
            return None
        tenant = await TenantRecordRepository(uow.session).get(user.tenant_id)
        return AccountSnapshot(
            user_id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            locale=user.locale,
            password_hash=user.password_hash,
            is_active=user.is_active,
            is_email_verified=user.email_verified_at is not None,
            has_tenant=tenant is not None,
        )

    async def verify(
        self, attempt: SignInAttempt, account: AccountSnapshot | None, password: str
    ) -> VerifiedSignIn:
        """Count the attempt, then check ``password`` (no transaction may be open).

        Raise ``TooManyAttemptsError`` past the limits (the attempt that starts a lock of
        an account tells its owner), ``InvalidCredentialsError`` for a wrong password or an
        unknown address, ``AccountDisabledError`` or ``EmailNotVerifiedError`` for a right
        one that may not sign in yet.
        """
        admission = await self._throttle.admit_sign_in(attempt.email, attempt.client.ip)
        if admission.refusal is not None:
            if admission.address_lock is not None and account is not None:
                await self._tell_owner_of_lock(account, admission.address_lock, attempt.client)
            raise admission.refusal
        if account is None:
            await self._passwords.verify_dummy(password)
            raise InvalidCredentialsError(INVALID_CREDENTIALS_MESSAGE)
        if not await self._passwords.verify(account.password_hash, password):
            raise InvalidCredentialsError(INVALID_CREDENTIALS_MESSAGE)
        await self._throttle.sign_in_succeeded(attempt.email, attempt.client.ip)
        if not account.is_active or not account.has_tenant:
            raise AccountDisabledError(ACCOUNT_DISABLED_MESSAGE)
        if self._requires_email_verification and not account.is_email_verified:
            raise EmailNotVerifiedError(
                "expected a verified e-mail address before signing in; this address is not "
                "verified yet. Use the link sent to it."
            )
        new_hash = None
        if self._passwords.needs_rehash(account.password_hash):
            new_hash = await self._passwords.hash(password)
        return VerifiedSignIn(
            user_id=account.user_id,
            client=attempt.client,
            password_hash=account.password_hash,
            new_password_hash=new_hash,
        )

    async def open_session(self, uow: UnitOfWork, verified: VerifiedSignIn) -> TokenPair:
        """Start the session in ``uow`` (system, writable); store the new hash if any.

        The account is read again: if its password changed or it was disabled since the
        check, the sign-in is refused as if the check had failed.
        """
        user = await CrossTenantLookup(uow.session).user_by_id(verified.user_id)
        if user is None or user.password_hash != verified.password_hash:
            raise InvalidCredentialsError(INVALID_CREDENTIALS_MESSAGE)
        tenant = await TenantRecordRepository(uow.session).get(user.tenant_id)
        if not user.is_active or tenant is None:
            raise AccountDisabledError(ACCOUNT_DISABLED_MESSAGE)
        if verified.new_password_hash is not None:
            user.password_hash = verified.new_password_hash
        pair = await self._sessions.open_session(uow, user, tenant, verified.client)
        event = SignedIn(
            user_id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            locale=user.locale,
            ip=verified.client.ip,
            user_agent=verified.client.user_agent,
            ts_event_ms=self._clock.now_ms(),
        )
        publish_after_commit(uow, self._bus, signed_in_topic(), event)  # new-address alerts
        return pair

    async def _tell_owner_of_lock(
        self, account: AccountSnapshot, lock: Lock, client: ClientInfo
    ) -> None:
        event = SignInLocked(
            user_id=account.user_id,
            tenant_id=account.tenant_id,
            email=account.email,
            locale=account.locale,
            failed_attempts=self._throttle.address_limit.max_attempts,
            window_s=self._throttle.address_limit.window_s,
            lock_s=lock.lock_s,
            locked_until_ms=lock.locked_until_ms,
            ip=client.ip,
            ts_event_ms=self._clock.now_ms(),
        )
        await publish_now(self._bus, sign_in_locked_topic(), event)
