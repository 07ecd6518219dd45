"""Credential formats shared by the gateway (which verifies) and the users service (which issues).

Access tokens are JWTs signed with the one algorithm configured in ``AuthSettings``: HS256
with ``CHAINFLOW_SECRET_KEY`` by default, RS256 or EdDSA with a PEM key pair. Verification
pins that algorithm, so ``alg=none`` and algorithm-confusion tokens are refused, and checks
expiry against the injected ``Clock`` rather than the machine's time. A token's lifetime is
capped by the settings whatever it claims: one whose ``exp - iat`` exceeds
``access_token_ttl_s`` (a forged long-lived token), that lacks ``iat`` or was issued in the
future is refused.

API keys look like ``cfk_<8-character public prefix>_<43-character secret>``. They carry 256
random bits, so a fast SHA-256 is the right hash for them (argon2 is for passwords, which
are guessable). Refresh, verification and reset tokens are random strings hashed the same
way. Messages of the errors here never contain a token or a key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import SecretStr

from chainflow.core.auth import Role, Tier
from chainflow.core.clock import Clock
from chainflow.core.errors import ConfigurationError, Unauthenticated
from chainflow.core.ids import TenantId, UserId, new_id
from chainflow.core.settings import AuthSettings

API_KEY_MARKER = "cfk_"
API_KEY_PUBLIC_PREFIX_LENGTH = 8
API_KEY_SECRET_BYTES = 32
TOKEN_BYTES = 32
# Tokens issued by a peer whose clock runs ahead of ours are accepted up to this margin.
MAX_CLOCK_SKEW_S = 60
# A token may claim a lifetime (exp - iat) this much longer than the configured one: whole
# seconds are rounded, nothing else; a longer claim was not issued by us.
LIFETIME_LEEWAY_S = 5

_PUBLIC_PREFIX_ALPHABET = string.ascii_letters + string.digits
_API_KEY_PATTERN = re.compile(r"^cfk_([A-Za-z0-9]{8})_[A-Za-z0-9_\-]{43,}$")
_REQUIRED_CLAIMS = ("sub", "tid", "role", "tier", "sid", "jti", "iat", "exp", "iss")


class TokenExpiredError(Unauthenticated):
    code = "token_expired"


class InvalidTokenError(Unauthenticated):
    code = "invalid_token"


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    """The verified claims of one access token; ``sid`` is the refresh-token family."""

    sub: UserId
    tid: TenantId
    role: Role
    tier: Tier
    sid: str
    jti: str
    iat: int
    exp: int
    iss: str


class AccessTokenCodec:
    """Issue and verify access JWTs with the algorithm and keys configured in ``auth``."""

    def __init__(self, auth: AuthSettings, secret_key: SecretStr, clock: Clock) -> None:
        self._algorithm = auth.jwt_algorithm
        self._issuer = auth.jwt_issuer
        self._ttl_s = auth.access_token_ttl_s
        self._clock = clock
        self._signing_key, self._verifying_key = _load_keys(auth, secret_key)
        self._check_key_pair()

    @property
    def algorithm(self) -> str:
        return self._algorithm

    def issue(
        self,
        user_id: UserId,
        tenant_id: TenantId,
        role: Role,
        tier: Tier,
        session_id: str,
    ) -> tuple[str, int]:
        """Sign a new access token; return it and its lifetime in seconds."""
        issued_at_s = self._clock.now_ms() // 1000
        payload = {
            "sub": str(user_id),
            "tid": str(tenant_id),
            "role": Role(role).value,
            "tier": Tier(tier).value,
            "sid": session_id,
            "jti": new_id(),
            "iat": issued_at_s,
            "exp": issued_at_s + self._ttl_s,
            "iss": self._issuer,
        }
        token = jwt.encode(payload, self._signing_key, algorithm=self._algorithm)
        return token, self._ttl_s

    def verify(self, token: str) -> AccessTokenClaims:
        """Return the claims of ``token``; raise ``InvalidTokenError`` or ``TokenExpiredError``."""
        try:
            payload = jwt.decode(
                token,
                self._verifying_key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                # Time claims are checked below against the injected clock, not wall time.
                options={
                    "require": list(_REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_iss": True,
                    "verify_aud": True,
                },
            )
        except jwt.MissingRequiredClaimError as e:
            raise InvalidTokenError(
                f"access token must carry the claims {', '.join(_REQUIRED_CLAIMS)}; "
                f"received one without {e.claim!r}"
            ) from e
        except jwt.InvalidIssuerError as e:
            raise InvalidTokenError(
                f"access token must be issued by {self._issuer!r}; received one from another issuer"
            ) from e
        except jwt.InvalidAlgorithmError as e:
            raise InvalidTokenError(
                f"access token must be signed with {self._algorithm}; received one signed "
                "with another algorithm"
            ) from e
        except jwt.InvalidSignatureError as e:
            raise InvalidTokenError(
                "access token must carry a valid signature; received one whose signature "
                "does not match its content"
            ) from e
        except jwt.PyJWTError as e:
            raise InvalidTokenError(
                f"access token must be a well-formed JWT signed with {self._algorithm}; "
                f"received one that is not ({type(e).__name__})"
            ) from e
        claims = _claims_from_payload(payload)
        lifetime_s = claims.exp - claims.iat
        if lifetime_s > self._ttl_s + LIFETIME_LEEWAY_S:
            raise InvalidTokenError(
                f"access token must live at most {self._ttl_s} s from issue to expiry "
                f"(CHAINFLOW_AUTH_ACCESS_TOKEN_TTL_S); received one claiming {lifetime_s} s"
            )
        now_s = self._clock.now_ms() // 1000
        if claims.iat > now_s + MAX_CLOCK_SKEW_S:
            raise InvalidTokenError(
                f"access token must be issued in the past; received one issued "
                f"{claims.iat - now_s} s in the future"
            )
        if now_s >= claims.exp:
            raise TokenExpiredError(
                f"access token must be unexpired; received one that expired "
                f"{now_s - claims.exp} s ago. Refresh it."
            )
        return claims

    def _check_key_pair(self) -> None:
        probe = jwt.encode({"probe": True}, self._signing_key, algorithm=self._algorithm)
        try:
            jwt.decode(probe, self._verifying_key, algorithms=[self._algorithm])
        except jwt.PyJWTError as e:
            raise ConfigurationError(
                "CHAINFLOW_AUTH_JWT_PUBLIC_KEY must verify what CHAINFLOW_AUTH_JWT_PRIVATE_KEY "
                f"signs; received a public key of another pair ({type(e).__name__})"
            ) from None


def _load_keys(auth: AuthSettings, secret_key: SecretStr) -> tuple[Any, Any]:
    if auth.jwt_algorithm == "HS256":
        key = secret_key.get_secret_value()
        return key, key
    private_pem = auth.jwt_private_key.get_secret_value() if auth.jwt_private_key else ""
    public_pem = auth.jwt_public_key or ""
    algorithm = jwt.get_algorithm_by_name(auth.jwt_algorithm)
    try:
        return algorithm.prepare_key(private_pem), algorithm.prepare_key(public_pem)
    except (jwt.InvalidKeyError, ValueError, TypeError) as e:
        raise ConfigurationError(
            f"CHAINFLOW_AUTH_JWT_PRIVATE_KEY and CHAINFLOW_AUTH_JWT_PUBLIC_KEY must be a PEM "
            f"key pair for {auth.jwt_algorithm}; received keys that are not ({type(e).__name__})"
        ) from None


def _claims_from_payload(payload: dict[str, Any]) -> AccessTokenClaims:
    strings = ("sub", "tid", "role", "tier", "sid", "jti", "iss")
    for name in strings:
        if not isinstance(payload[name], str) or not payload[name]:
            raise InvalidTokenError(
                f"access token claim {name!r} must be a non-empty string; received a value "
                f"of type {type(payload[name]).__name__}"
            )
    for name in ("iat", "exp"):
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidTokenError(
                f"access token claim {name!r} must be whole epoch seconds; received a value "
                f"of type {type(value).__name__}"
            )
    try:
        role, tier = Role(payload["role"]), Tier(payload["tier"])
    except ValueError as e:
        raise InvalidTokenError(
            "access token claims 'role' and 'tier' must name a known role and tier; "
            "received an unknown one"
        ) from e
    return AccessTokenClaims(
        sub=UserId(payload["sub"]),
        tid=TenantId(payload["tid"]),
        role=role,
        tier=tier,
        sid=payload["sid"],
        jti=payload["jti"],
        iat=payload["iat"],
        exp=payload["exp"],
        iss=payload["iss"],
    )


# --- API keys and opaque tokens -------------------------------------------------------------


def generate_api_key() -> tuple[str, str]:
    """Return a new API key and its 8-character public prefix (shown in listings)."""
    prefix = "".join(
        secrets.choice(_PUBLIC_PREFIX_ALPHABET) for _ in range(API_KEY_PUBLIC_PREFIX_LENGTH)
    )
    secret = secrets.token_urlsafe(API_KEY_SECRET_BYTES)
    return f"{API_KEY_MARKER}{prefix}_{secret}", prefix


def is_api_key(token: str) -> bool:
    """Return whether ``token`` is meant as an API key (rather than an access JWT)."""
    return token.startswith(API_KEY_MARKER)


def is_well_formed_api_key(key: str) -> bool:
    """Return whether ``key`` has the shape ``generate_api_key`` produces."""
    return _API_KEY_PATTERN.fullmatch(key) is not None


def api_key_prefix(key: str) -> str:
    """Return the 8-character public prefix of ``key``; raise ``InvalidTokenError`` if malformed."""
    match = _API_KEY_PATTERN.fullmatch(key)
    if match is None:
        raise InvalidTokenError(
            "API key must look like cfk_<8 letters or digits>_<secret>; received a value "
            "of another shape"
        )
    return match.group(1)


def hash_api_key(key: str) -> str:
    """Return the hex SHA-256 of ``key``: what is stored and looked up, never the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate_token() -> str:
    """Return a new URL-safe random token of 32 bytes (refresh, verification, reset)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Return the hex SHA-256 of ``token``: what is stored and looked up, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()
