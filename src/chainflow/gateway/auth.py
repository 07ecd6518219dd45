"""Resolve a request's credential (access JWT or API key) to a cached ``Principal``.

The hot path is one cache read: a verified JWT's session id, or an API key's SHA-256, is
the cache key of the caller's ``Principal`` (JSON, ``context_ttl_s``). Only on a miss does
the ``CredentialResolver`` (the users service) run; its answer is cached, and so is a
refusal, for ``NEGATIVE_TTL_S``, to blunt key-guessing load on the database.

The users service invalidates entries when it revokes a session or a key, or changes a role
or tier (``PrincipalCache.invalidate_*``; it needs only the shared cache). Anything it does
not invalidate is at most ``context_ttl_s`` stale. Cache errors are not swallowed: with the
cache down, requests fail with ``503 dependency_unavailable`` rather than bypass it.

A warm request neither verifies its JWT nor decodes the cached principal again
(``VerifiedTokens``, benchmarks/http.py): each process remembers, per exact token string,
its verified claims and the principal decoded from the cache's value. The cache is still
read on every request and the remembered principal is used only while the cache holds the
very bytes it was decoded from, so a revocation, or a role or tier change, made by any
process takes effect at once, as without the memo.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidCredentialsError
from chainflow.core.logging import get_logger
from chainflow.core.tokens import (
    AccessTokenClaims,
    AccessTokenCodec,
    hash_api_key,
    is_api_key,
    is_well_formed_api_key,
)
from chainflow.gateway.errors import MissingCredentialsError
from chainflow.storage.api import Cache

if TYPE_CHECKING:
    # Only a type here: ``gateway.api`` re-exports this module, so a runtime import would cycle.
    from chainflow.gateway.api import CredentialResolver

log = get_logger("chainflow.gateway.auth")

NEGATIVE_TTL_S = 5.0
API_KEY_USE_INTERVAL_S = 60.0
# Tokens whose verification each process remembers (the least recently used go first).
MAX_VERIFIED_TOKENS = 10_000
_REFUSED = b"null"
_BEARER = "bearer"


class PrincipalCache:
    """The cached ``Principal`` of each session and API key; shared by every process."""

    def __init__(
        self, cache: Cache, *, ttl_s: float, negative_ttl_s: float = NEGATIVE_TTL_S
    ) -> None:
        self._cache = cache
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s

    @property
    def ttl_s(self) -> float:
        """How long a principal is kept: the bound on changes nobody invalidated."""
        return self._ttl_s

    @staticmethod
    def session_key(session_id: str) -> str:
        return f"auth:sid:{session_id}"

    @staticmethod
    def api_key_key(key_hash: str) -> str:
        return f"auth:key:{key_hash}"

    async def get(self, key: str) -> Principal | Literal[False] | None:
        """Return the cached principal, ``False`` for a cached refusal, ``None`` on a miss."""
        return self.decode(key, await self.get_raw(key))

    async def get_raw(self, key: str) -> bytes | None:
        """Return the cached value as stored (``decode`` reads it), ``None`` on a miss."""
        return await self._cache.get(key)

    @staticmethod
    def decode(key: str, raw: bytes | None) -> Principal | Literal[False] | None:
        """Read a value of ``get_raw``: a principal, ``False`` for a refusal, ``None``."""
        if raw is None:
            return None
        if raw == _REFUSED:
            return False
        try:
            return Principal.from_dict(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            log.warning("cached_principal_unreadable", cache_key=key, error=type(e).__name__)
            return None

    async def put(self, key: str, principal: Principal | None) -> bytes:
        """Cache ``principal``, or a short-lived refusal when it is None; return the value."""
        if principal is None:
            await self._cache.set(key, _REFUSED, ttl_s=self._negative_ttl_s)
            return _REFUSED
        raw = orjson.dumps(principal.to_dict())
        await self._cache.set(key, raw, ttl_s=self._ttl_s)
        return raw

    async def invalidate_session(self, session_id: str) -> None:
        """Forget the cached principal of ``session_id`` (revoked, role or tier changed)."""
        await self._cache.delete(self.session_key(session_id))

    async def invalidate_api_key(self, key_hash: str) -> None:
        """Forget the cached principal of the API key whose SHA-256 is ``key_hash``."""
        await self._cache.delete(self.api_key_key(key_hash))


@dataclass(slots=True)
class VerifiedToken:
    """An access token whose signature and claims were checked, and the principal of its
    session as decoded from the principal cache's value ``cached``."""

    claims: AccessTokenClaims
    until_s: float  # ``Clock.monotonic()`` at which the token is verified again
    cached: bytes | None = None
    principal: Principal | None = None

    def principal_if_cached(self, raw: bytes | None) -> Principal | None:
        """Return the remembered principal if ``raw`` is the value it was decoded from."""
        if raw is None or self.cached is None:
            return None
        return self.principal if raw is self.cached or raw == self.cached else None


class VerifiedTokens:
    """Access token -> ``VerifiedToken``: a bounded, least-recently-used memo.

    An entry lives until its token expires or for ``ttl_s`` (the principal cache's time to
    live), whichever comes first; then the token is verified again, so that an expired one
    gets ``token_expired`` exactly as without the memo.
    """

    def __init__(
        self, codec: AccessTokenCodec, clock: Clock, *, ttl_s: float, max_entries: int
    ) -> None:
        self._codec = codec
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[str, VerifiedToken] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def verify(self, token: str) -> VerifiedToken:
        """Return the token's entry; raise as ``AccessTokenCodec.verify`` when it is bad."""
        entry = self._entries.get(token)
        if entry is not None:
            if (
                self._clock.monotonic() < entry.until_s
                and self._clock.now_ms() // 1000 < entry.claims.exp
            ):
                self._entries.move_to_end(token)
                return entry
            del self._entries[token]
        claims = self._codec.verify(token)
        entry = VerifiedToken(claims, self._clock.monotonic() + self._ttl_s)
        if self._max_entries > 0:
            if len(self._entries) >= self._max_entries:
                self._entries.popitem(last=False)
            self._entries[token] = entry
        return entry

    def forget_session(self, session_id: str) -> None:
        """Drop every token of ``session_id`` (its cached principal was invalidated)."""
        for token in [t for t, e in self._entries.items() if e.claims.sid == session_id]:
            del self._entries[token]


class Authenticator:
    """Turn an ``Authorization`` header (or a bare token) into the caller's ``Principal``."""

    def __init__(
        self,
        codec: AccessTokenCodec,
        resolver: CredentialResolver,
        cache: Cache,
        clock: Clock,
        context_ttl_s: float,
        *,
        negative_ttl_s: float = NEGATIVE_TTL_S,
        api_key_use_interval_s: float = API_KEY_USE_INTERVAL_S,
        max_verified_tokens: int = MAX_VERIFIED_TOKENS,
    ) -> None:
        self._codec = codec
        self._resolver = resolver
        self._cache = cache
        self._clock = clock
        self._api_key_use_interval_s = api_key_use_interval_s
        self.principals = PrincipalCache(cache, ttl_s=context_ttl_s, negative_ttl_s=negative_ttl_s)
        self.verified_tokens = VerifiedTokens(
            codec, clock, ttl_s=context_ttl_s, max_entries=max_verified_tokens
        )
        self._key_use_noted_at_s: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def authenticate(
        self, authorization_header_or_token: str | None, *, api_key_query: str | None = None
    ) -> Principal:
        """Return the principal of a ``Bearer`` header, a bare token, or an ``api_key`` query.

        Raise ``MissingCredentialsError`` when there is none, ``InvalidTokenError`` or
        ``TokenExpiredError`` for a bad JWT, ``InvalidCredentialsError`` when the credential
        is unknown or no longer grants access.
        """
        token = _bearer_token(authorization_header_or_token)
        if token is None and api_key_query:
            token = api_key_query.strip()
            if not is_api_key(token):
                raise InvalidCredentialsError(
                    "the api_key query parameter must hold an API key (cfk_...); received "
                    "a value of another kind"
                )
        if not token:
            raise MissingCredentialsError(
                "request must carry credentials: an 'Authorization: Bearer <access token or "
                "API key>' header; received none"
            )
        if is_api_key(token):
            return await self._authenticate_api_key(token)
        return await self._authenticate_session(self.verified_tokens.verify(token))

    async def invalidate_session(self, session_id: str) -> None:
        """Forget the cached principal of ``session_id``, and its tokens' entries here."""
        self.verified_tokens.forget_session(session_id)
        await self.principals.invalidate_session(session_id)

    async def invalidate_api_key(self, key_hash: str) -> None:
        """Forget the cached principal of the API key whose SHA-256 is ``key_hash``."""
        await self.principals.invalidate_api_key(key_hash)

    async def drain(self) -> None:
        """Wait for pending last-used recordings (call at shutdown)."""
        while self._background:
            pending = list(self._background)
            await asyncio.gather(*pending, return_exceptions=True)
            self._background.difference_update(pending)

    async def _authenticate_session(self, verified: VerifiedToken) -> Principal:
        claims = verified.claims
        cache_key = PrincipalCache.session_key(claims.sid)
        raw = await self.principals.get_raw(cache_key)
        remembered = verified.principal_if_cached(raw)
        if remembered is not None:
            return remembered
        verified.cached = verified.principal = None
        cached = PrincipalCache.decode(cache_key, raw)
        if cached is False:
            raise _revoked("session")
        if isinstance(cached, Principal):
            principal = _checked_session_principal(cached, claims)
            verified.cached, verified.principal = raw, principal
            return principal
        resolved = await self._resolver.resolve_session(claims.sub, claims.tid, claims.sid)
        if resolved is None:
            await self.principals.put(cache_key, None)
            raise _revoked("session")
        principal = _checked_session_principal(resolved, claims)
        stored = await self.principals.put(cache_key, principal)
        verified.cached, verified.principal = stored, principal
        return principal

    async def _authenticate_api_key(self, key: str) -> Principal:
        if not is_well_formed_api_key(key):
            raise InvalidCredentialsError(
                "API key must look like cfk_<8 letters or digits>_<secret>; received a value "
                "of another shape"
            )
        key_hash = hash_api_key(key)
        cache_key = PrincipalCache.api_key_key(key_hash)
        cached = await self.principals.get(cache_key)
        if cached is False:
            raise _revoked("API key")
        if isinstance(cached, Principal):
            principal = cached
        else:
            resolved = await self._resolver.resolve_api_key(key_hash)
            if resolved is not None and (
                resolved.auth_method != "api_key" or not resolved.api_key_id
            ):
                log.error("resolver_returned_non_key_principal", auth_method=resolved.auth_method)
                resolved = None
            await self.principals.put(cache_key, resolved)
            if resolved is None:
                raise _revoked("API key")
            principal = resolved
        self._note_api_key_use(principal)
        return principal

    def _note_api_key_use(self, principal: Principal) -> None:
        key_id = principal.api_key_id
        if key_id is None:
            return
        now_s = self._clock.monotonic()
        noted_at_s = self._key_use_noted_at_s.get(key_id)
        if noted_at_s is not None and now_s - noted_at_s < self._api_key_use_interval_s:
            return
        if len(self._key_use_noted_at_s) > 10_000:
            self._forget_old_key_uses(now_s)
        self._key_use_noted_at_s[key_id] = now_s
        task = asyncio.create_task(
            self._record_api_key_use(key_id, self._clock.now_ms()),
            name="gateway.record_api_key_use",
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _forget_old_key_uses(self, now_s: float) -> None:
        horizon_s = now_s - self._api_key_use_interval_s
        for key_id in [k for k, t in self._key_use_noted_at_s.items() if t < horizon_s]:
            del self._key_use_noted_at_s[key_id]

    async def _record_api_key_use(self, key_id: str, used_at_ms: int) -> None:
        # Other processes note the same key: the shared cache lets one of them record per
        # interval. Failures are logged, never raised: the request has already been served.
        try:
            first = await self._cache.set_if_absent(
                f"auth:keyuse:{key_id}", b"1", ttl_s=self._api_key_use_interval_s
            )
            if first:
                await self._resolver.record_api_key_use(key_id, used_at_ms)
        except Exception as e:
            log.warning(
                "api_key_last_used_not_recorded",
                key_id=key_id,
                error_type=type(e).__name__,
                error=str(e),
            )


def _bearer_token(value: str | None) -> str | None:
    if value is None:
        return None
    parts = value.strip().split(None, 1)
    if not parts:
        return None
    if len(parts) == 1:
        return None if parts[0].lower() == _BEARER else parts[0]
    scheme, token = parts
    if scheme.lower() != _BEARER:
        shown = scheme if len(scheme) <= 20 and scheme.isalnum() else "<unreadable>"
        raise InvalidCredentialsError(
            f"Authorization header must use the Bearer scheme; received scheme {shown!r}"
        )
    return token.strip() or None


def _revoked(kind: str) -> InvalidCredentialsError:
    return InvalidCredentialsError(
        f"{kind} must be active to authenticate; received one that is unknown, revoked, or "
        "whose user or tenant is disabled"
    )


def _checked_session_principal(principal: Principal, claims: AccessTokenClaims) -> Principal:
    mismatch: dict[str, Any] = {}
    if principal.user_id != claims.sub:
        mismatch["user"] = True
    if principal.tenant_id != claims.tid:
        mismatch["tenant"] = True
    if principal.auth_method != "jwt":
        mismatch["auth_method"] = principal.auth_method
    if principal.session_id is not None and principal.session_id != claims.sid:
        mismatch["session"] = True
    if mismatch:
        log.error("session_principal_does_not_match_token", mismatch=mismatch)
        raise InvalidCredentialsError(
            "access token must belong to the user and tenant of its session; received one "
            "whose claims differ from the session's"
        )
    if principal.session_id is None:
        return dataclasses.replace(principal, session_id=claims.sid)
    return principal
