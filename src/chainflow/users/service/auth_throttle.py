"""Which unauthenticated attempts are throttled, under which keys, and what the caller hears.

- Sign-in: per address (the normalized e-mail, whether or not it has an account, so a lock
  tells nothing about which accounts exist) and per client address. Each attempt is counted
  before its password is checked, so a concurrent burst gets no more guesses through than
  a sequence; a right password takes its count back (and clears the address's). The
  attempt past the limit starts a lock: 429 ``too_many_attempts`` with ``Retry-After``,
  even for the right password, until it ends.
- Token redemption (verify, password-reset confirm, accept invitation): per client address;
  an unknown, used or expired token counts.
- Password-reset request: per address and per client address; every request counts, since
  each may send an e-mail.

Keys are SHA-256 digests, so no address appears in the cache. An IPv6 client counts by its
/64 network (one host usually holds all of it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from chainflow.core.clock import Clock
from chainflow.core.settings import AuthSettings
from chainflow.storage.api import Cache
from chainflow.users.errors import (
    InvalidEmailError,
    InvitationExpiredError,
    InvitationInvalidError,
    InvitationUsedError,
    OneTimeTokenExpiredError,
    OneTimeTokenInvalidError,
    OneTimeTokenUsedError,
    TooManyAttemptsError,
)
from chainflow.users.identity import normalize_email
from chainflow.users.throttle import Admission, AttemptLimit, AttemptThrottle, Lock

NAMESPACE = "users:throttle"
# The owner of an address hears about a registration attempt at most once per this time.
DUPLICATE_REGISTRATION_NOTICE_INTERVAL_S = 3600.0
IPV6_NETWORK_PREFIX = 64
UNKNOWN_CLIENT = "unknown"
TOKEN_FAILURES = (
    OneTimeTokenInvalidError,
    OneTimeTokenUsedError,
    OneTimeTokenExpiredError,
    InvitationInvalidError,
    InvitationUsedError,
    InvitationExpiredError,
)


def address_key(email: str) -> str:
    """Return the throttle key of an e-mail address as typed (normalized when valid)."""
    try:
        normalized = normalize_email(email)
    except InvalidEmailError:
        normalized = email.strip().lower()
    return hashlib.sha256(normalized.encode()).hexdigest()


def client_key(ip: str | None) -> str:
    """Return the throttle key of a client address (its /64 network for IPv6)."""
    if not ip:
        return UNKNOWN_CLIENT
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return hashlib.sha256(ip.encode()).hexdigest()
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.ip_network(f"{parsed}/{IPV6_NETWORK_PREFIX}", strict=False)
        return str(network)
    return str(parsed)


@dataclass(frozen=True, slots=True)
class Throttles:
    """The five throttles, one per kind of attempt and key."""

    sign_in_address: AttemptThrottle
    sign_in_client: AttemptThrottle
    token_client: AttemptThrottle
    reset_address: AttemptThrottle
    reset_client: AttemptThrottle


@dataclass(frozen=True, slots=True)
class SignInAdmission:
    """Whether a sign-in may check its password; ``refusal`` is the error to raise if not.

    ``address_lock`` is the lock of the address this attempt started: its owner should hear.
    """

    refusal: TooManyAttemptsError | None = None
    address_lock: Lock | None = None


class AuthThrottle:
    """Throttle sign-ins, token redemptions and reset requests (see the module)."""

    def __init__(self, *, cache: Cache, clock: Clock, settings: AuthSettings) -> None:
        self._cache = cache
        self._trust_forwarded_for = settings.trust_forwarded_for
        per_address = AttemptLimit(
            max_attempts=settings.throttle_account_failures,
            window_s=settings.throttle_account_window_s,
            lock_s=settings.throttle_account_lock_s,
            max_lock_s=settings.throttle_account_max_lock_s,
        )
        per_client = AttemptLimit(
            max_attempts=settings.throttle_ip_failures,
            window_s=settings.throttle_ip_window_s,
            lock_s=settings.throttle_ip_lock_s,
            max_lock_s=settings.throttle_ip_max_lock_s,
        )

        def throttle(name: str, limit: AttemptLimit) -> AttemptThrottle:
            return AttemptThrottle(cache, clock, namespace=f"{NAMESPACE}:{name}", limit=limit)

        self._throttles = Throttles(
            sign_in_address=throttle("sign_in:address", per_address),
            sign_in_client=throttle("sign_in:client", per_client),
            token_client=throttle("token:client", per_client),
            reset_address=throttle("reset:address", per_address),
            reset_client=throttle("reset:client", per_client),
        )

    @property
    def address_limit(self) -> AttemptLimit:
        """Return the limit on sign-ins per address."""
        return self._throttles.sign_in_address.limit

    def client_ip(self, peer: str | None, forwarded_for: Sequence[str]) -> str | None:
        """Return the caller's address: the peer's, or behind a trusted proxy the last
        ``X-Forwarded-For`` entry (the one that proxy appended; earlier ones are the
        client's own claims)."""
        if self._trust_forwarded_for:
            entries = [e.strip() for header in forwarded_for for e in header.split(",")]
            entries = [e for e in entries if e]
            if entries:
                return entries[-1]
        return peer

    async def check_sign_in(self, email: str, ip: str | None) -> None:
        """Raise ``TooManyAttemptsError`` while the client or the address is locked."""
        throttles = self._throttles
        for throttle, key, scope in (
            (throttles.sign_in_client, client_key(ip), "client"),
            (throttles.sign_in_address, address_key(email), "address"),
        ):
            retry_after_s = await throttle.retry_after_s(key)
            if retry_after_s is not None:
                raise _refusal(throttle, retry_after_s, "failed sign-ins", scope)

    async def admit_sign_in(self, email: str, ip: str | None) -> SignInAdmission:
        """Count a sign-in attempt against the client and the address, before its check."""
        throttles = self._throttles
        client = await throttles.sign_in_client.admit(client_key(ip))
        if not client.admitted:
            return SignInAdmission(_admission_refusal(throttles.sign_in_client, client, "client"))
        address = await throttles.sign_in_address.admit(address_key(email))
        if not address.admitted:
            await throttles.sign_in_client.release(client_key(ip))
            refusal = _admission_refusal(throttles.sign_in_address, address, "address")
            return SignInAdmission(refusal, address.started)
        return SignInAdmission()

    async def sign_in_succeeded(self, email: str, ip: str | None) -> None:
        """Take back the attempt's count; forget the address's failures and earlier locks."""
        await self._throttles.sign_in_client.release(client_key(ip))
        await self._throttles.sign_in_address.clear(address_key(email))

    @asynccontextmanager
    async def token_redemption(self, ip: str | None) -> AsyncIterator[None]:
        """Refuse a locked client; count the block's unknown, used or expired token."""
        throttle, key = self._throttles.token_client, client_key(ip)
        retry_after_s = await throttle.retry_after_s(key)
        if retry_after_s is not None:
            raise _refusal(throttle, retry_after_s, "failed token redemptions", "client")
        try:
            yield
        except TOKEN_FAILURES:
            await throttle.record_failure(key)
            raise

    async def reset_requested(self, email: str, ip: str | None) -> None:
        """Count a password-reset request; refuse it past the client's or address's limit."""
        throttles = self._throttles
        for throttle, key, scope in (
            (throttles.reset_client, client_key(ip), "client"),
            (throttles.reset_address, address_key(email), "address"),
        ):
            admission = await throttle.admit(key)
            if not admission.admitted:
                raise _admission_refusal(throttle, admission, scope, "password-reset requests")

    async def is_first_duplicate_registration(self, email: str) -> bool:
        """Return whether no registration of this taken address was noticed lately."""
        key = f"{NAMESPACE}:duplicate_registration:{address_key(email)}"
        return await self._cache.set_if_absent(
            key, b"1", ttl_s=DUPLICATE_REGISTRATION_NOTICE_INTERVAL_S
        )


def _admission_refusal(
    throttle: AttemptThrottle, admission: Admission, scope: str, what: str = "failed sign-ins"
) -> TooManyAttemptsError:
    return _refusal(throttle, admission.retry_after_s, what, scope)


def _refusal(
    throttle: AttemptThrottle, retry_after_s: float, what: str, scope: str
) -> TooManyAttemptsError:
    limit = throttle.limit
    whose = "this e-mail address" if scope == "address" else "this client address"
    return TooManyAttemptsError(
        f"expected at most {limit.max_attempts} {what} for {whose} within "
        f"{limit.window_s:g} s; received more, so it is locked for "
        f"{math.ceil(retry_after_s)} s more",
        retry_after_s=retry_after_s,
        details={"scope": scope, "retry_after_s": round(retry_after_s, 3)},
    )
