from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from pydantic import SecretStr

from chainflow.core.auth import Role, Tier
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import ConfigurationError, Unauthenticated
from chainflow.core.ids import TenantId, UserId
from chainflow.core.settings import AuthSettings
from chainflow.core.tokens import (
    LIFETIME_LEEWAY_S,
    MAX_CLOCK_SKEW_S,
    AccessTokenCodec,
    InvalidTokenError,
    TokenExpiredError,
    api_key_prefix,
    generate_api_key,
    generate_token,
    hash_api_key,
    hash_token,
    is_api_key,
    is_well_formed_api_key,
)

SECRET = SecretStr("test-secret-key-that-is-long-enough-0123456789")
OTHER_SECRET = "another-secret-key-that-is-long-enough-9876543210"
START_MS = 1_700_000_000_000
USER = UserId("u-1")
TENANT = TenantId("t-1")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified_payload(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def pem_pair(private_key: Any) -> tuple[str, str]:
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def asymmetric_settings(
    algorithm: str, private_key: Any, public_key_of: Any = None
) -> AuthSettings:
    private_pem, public_pem = pem_pair(private_key)
    if public_key_of is not None:
        _, public_pem = pem_pair(public_key_of)
    return AuthSettings(
        jwt_algorithm=algorithm, jwt_private_key=SecretStr(private_pem), jwt_public_key=public_pem
    )


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
def codec(clock: SimulatedClock) -> AccessTokenCodec:
    return AccessTokenCodec(AuthSettings(), SECRET, clock)


def issue(codec: AccessTokenCodec) -> str:
    token, _ = codec.issue(USER, TENANT, Role.TRADER, Tier.PRO, "session-1")
    return token


def assert_invalid(codec: AccessTokenCodec, token: str) -> InvalidTokenError:
    with pytest.raises(InvalidTokenError) as caught:
        codec.verify(token)
    error = caught.value
    assert error.code == "invalid_token" and error.status == 401
    assert isinstance(error, Unauthenticated)
    assert not token or token not in error.message
    return error


class TestIssue:
    def test_round_trip_returns_the_claims(self, codec: AccessTokenCodec) -> None:
        token, expires_in = codec.issue(USER, TENANT, Role.TRADER, Tier.PRO, "session-1")
        claims = codec.verify(token)
        assert expires_in == 900
        assert (claims.sub, claims.tid, claims.role, claims.tier, claims.sid) == (
            USER,
            TENANT,
            Role.TRADER,
            Tier.PRO,
            "session-1",
        )
        assert claims.iat == START_MS // 1000 and claims.exp == claims.iat + 900
        assert claims.iss == "chainflow" and len(claims.jti) == 32

    def test_header_names_the_configured_algorithm(self, codec: AccessTokenCodec) -> None:
        assert jwt.get_unverified_header(issue(codec))["alg"] == "HS256"

    def test_each_token_has_its_own_jti(self, codec: AccessTokenCodec) -> None:
        assert codec.verify(issue(codec)).jti != codec.verify(issue(codec)).jti


class TestVerifyExpiry:
    def test_valid_until_the_last_second(
        self, codec: AccessTokenCodec, clock: SimulatedClock
    ) -> None:
        token = issue(codec)
        clock.advance_ms(899_999)
        assert codec.verify(token).sub == USER

    def test_expired_on_the_simulated_clock_is_token_expired(
        self, codec: AccessTokenCodec, clock: SimulatedClock
    ) -> None:
        token = issue(codec)
        clock.advance_ms(900_000)
        with pytest.raises(TokenExpiredError) as caught:
            codec.verify(token)
        assert caught.value.code == "token_expired" and caught.value.status == 401
        assert token not in caught.value.message

    def test_issued_in_the_future_beyond_skew_is_invalid(self, clock: SimulatedClock) -> None:
        future = AccessTokenCodec(
            AuthSettings(), SECRET, SimulatedClock(START_MS + (MAX_CLOCK_SKEW_S + 5) * 1000)
        )
        assert_invalid(AccessTokenCodec(AuthSettings(), SECRET, clock), issue(future))


class TestVerifyLifetime:
    """A token's lifetime is the settings', whatever it claims (a forged long-lived one)."""

    def resigned(self, codec: AccessTokenCodec, **claims: Any) -> str:
        payload = {**unverified_payload(issue(codec)), **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, SECRET.get_secret_value(), algorithm="HS256")

    def test_ten_year_token_is_invalid(self, codec: AccessTokenCodec) -> None:
        ten_years = 10 * 365 * 86_400
        token = self.resigned(codec, exp=START_MS // 1000 + ten_years)
        error = assert_invalid(codec, token)
        assert "at most 900 s" in error.message and f"claiming {ten_years} s" in error.message

    def test_lifetime_just_beyond_the_setting_is_invalid(self, codec: AccessTokenCodec) -> None:
        start_s = START_MS // 1000
        assert codec.verify(self.resigned(codec, exp=start_s + 900 + LIFETIME_LEEWAY_S))
        assert_invalid(codec, self.resigned(codec, exp=start_s + 900 + LIFETIME_LEEWAY_S + 1))

    def test_backdated_issue_cannot_stretch_the_lifetime(self, codec: AccessTokenCodec) -> None:
        start_s = START_MS // 1000
        assert_invalid(codec, self.resigned(codec, iat=start_s - 86_400, exp=start_s + 600))

    def test_token_without_issue_time_is_invalid(self, codec: AccessTokenCodec) -> None:
        error = assert_invalid(codec, self.resigned(codec, iat=None))
        assert "'iat'" in error.message

    def test_shorter_setting_caps_tokens_issued_under_a_longer_one(
        self, clock: SimulatedClock
    ) -> None:
        long_lived = AccessTokenCodec(AuthSettings(access_token_ttl_s=3600), SECRET, clock)
        short_lived = AccessTokenCodec(AuthSettings(access_token_ttl_s=600), SECRET, clock)
        assert_invalid(short_lived, issue(long_lived))


class TestVerifyTampering:
    def test_tampered_signature_is_invalid(self, codec: AccessTokenCodec) -> None:
        header, payload, signature = issue(codec).split(".")
        middle = len(signature) // 2
        flipped = "A" if signature[middle] != "A" else "B"
        tampered = f"{header}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
        error = assert_invalid(codec, tampered)
        assert "signature" in error.message

    def test_alg_none_crafted_by_hand_is_invalid(self, codec: AccessTokenCodec) -> None:
        payload = unverified_payload(issue(codec))
        header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        body = b64url(json.dumps(payload).encode())
        for unsigned in (f"{header}.{body}.", f"{header}.{body}"):
            assert_invalid(codec, unsigned)

    def test_signed_with_another_key_is_invalid(self, codec: AccessTokenCodec) -> None:
        payload = unverified_payload(issue(codec))
        assert_invalid(codec, jwt.encode(payload, OTHER_SECRET, algorithm="HS256"))

    def test_changed_tid_reencoded_with_another_key_is_invalid(
        self, codec: AccessTokenCodec
    ) -> None:
        payload = {**unverified_payload(issue(codec)), "tid": "t-victim"}
        assert_invalid(codec, jwt.encode(payload, OTHER_SECRET, algorithm="HS256"))

    def test_changed_tid_with_original_signature_spliced_is_invalid(
        self, codec: AccessTokenCodec
    ) -> None:
        original = issue(codec)
        header, _, signature = original.split(".")
        payload = {**unverified_payload(original), "tid": "t-victim"}
        spliced = f"{header}.{b64url(json.dumps(payload).encode())}.{signature}"
        assert_invalid(codec, spliced)

    def test_wrong_issuer_is_invalid(self, codec: AccessTokenCodec, clock: SimulatedClock) -> None:
        foreign = AccessTokenCodec(AuthSettings(jwt_issuer="someone-else"), SECRET, clock)
        error = assert_invalid(codec, issue(foreign))
        assert "'chainflow'" in error.message

    def test_missing_session_claim_is_invalid(self, codec: AccessTokenCodec) -> None:
        payload = unverified_payload(issue(codec))
        del payload["sid"]
        error = assert_invalid(
            codec, jwt.encode(payload, SECRET.get_secret_value(), algorithm="HS256")
        )
        assert "'sid'" in error.message

    def test_unknown_role_is_invalid(self, codec: AccessTokenCodec) -> None:
        payload = {**unverified_payload(issue(codec)), "role": "god"}
        assert_invalid(codec, jwt.encode(payload, SECRET.get_secret_value(), algorithm="HS256"))

    def test_non_integer_expiry_is_invalid(self, codec: AccessTokenCodec) -> None:
        payload = {**unverified_payload(issue(codec)), "exp": "never"}
        assert_invalid(codec, jwt.encode(payload, SECRET.get_secret_value(), algorithm="HS256"))

    @pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "cfk_abc"])
    def test_garbage_is_invalid(self, codec: AccessTokenCodec, garbage: str) -> None:
        assert_invalid(codec, garbage)


class TestAsymmetricAlgorithms:
    @pytest.mark.parametrize(
        ("algorithm", "make_key"),
        [
            ("RS256", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            ("EdDSA", ed25519.Ed25519PrivateKey.generate),
        ],
    )
    def test_round_trip(self, clock: SimulatedClock, algorithm: str, make_key: Any) -> None:
        codec = AccessTokenCodec(asymmetric_settings(algorithm, make_key()), SECRET, clock)
        token = issue(codec)
        assert jwt.get_unverified_header(token)["alg"] == algorithm
        assert codec.verify(token).tid == TENANT
        other = AccessTokenCodec(asymmetric_settings(algorithm, make_key()), SECRET, clock)
        assert_invalid(other, token)

    def test_hs256_signed_with_the_public_key_is_refused(self, clock: SimulatedClock) -> None:
        private_key = ed25519.Ed25519PrivateKey.generate()
        codec = AccessTokenCodec(asymmetric_settings("EdDSA", private_key), SECRET, clock)
        _, public_pem = pem_pair(private_key)
        payload = unverified_payload(issue(codec))
        hmac_header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64url(json.dumps(payload).encode())
        signing_input = f"{hmac_header}.{body}".encode()
        mac = hmac.new(public_pem.encode(), signing_input, hashlib.sha256).digest()
        assert_invalid(codec, f"{hmac_header}.{body}.{b64url(mac)}")

    def test_hs256_token_is_refused_by_an_eddsa_codec(self, clock: SimulatedClock) -> None:
        symmetric = AccessTokenCodec(AuthSettings(), SECRET, clock)
        eddsa = AccessTokenCodec(
            asymmetric_settings("EdDSA", ed25519.Ed25519PrivateKey.generate()), SECRET, clock
        )
        error = assert_invalid(eddsa, issue(symmetric))
        assert "EdDSA" in error.message

    def test_mismatched_key_pair_is_a_configuration_error(self, clock: SimulatedClock) -> None:
        settings = asymmetric_settings(
            "EdDSA", ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
        )
        with pytest.raises(ConfigurationError, match="PUBLIC_KEY must verify"):
            AccessTokenCodec(settings, SECRET, clock)

    def test_key_of_another_algorithm_is_a_configuration_error(self, clock: SimulatedClock) -> None:
        settings = asymmetric_settings("RS256", ed25519.Ed25519PrivateKey.generate())
        with pytest.raises(ConfigurationError) as caught:
            AccessTokenCodec(settings, SECRET, clock)
        assert "PRIVATE KEY" not in caught.value.message


class TestApiKeys:
    def test_format_is_marker_prefix_and_secret(self) -> None:
        key, prefix = generate_api_key()
        assert re.fullmatch(r"cfk_[A-Za-z0-9]{8}_[A-Za-z0-9_\-]{43}", key)
        assert key.startswith(f"cfk_{prefix}_") and len(prefix) == 8
        assert api_key_prefix(key) == prefix
        assert is_api_key(key) and is_well_formed_api_key(key)

    def test_keys_are_unique(self) -> None:
        keys = {generate_api_key()[0] for _ in range(200)}
        assert len(keys) == 200

    def test_hash_is_hex_sha256_of_the_key(self) -> None:
        key, _ = generate_api_key()
        assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
        assert hash_api_key(key) == hash_api_key(key) and key not in hash_api_key(key)

    def test_jwt_is_not_an_api_key(self, codec: AccessTokenCodec) -> None:
        assert not is_api_key(issue(codec))

    @pytest.mark.parametrize(
        "malformed", ["cfk_short_x", "cfk_AbCd1234", "xyz_AbCd1234_" + "a" * 43]
    )
    def test_prefix_of_malformed_key_is_invalid_without_echoing_it(self, malformed: str) -> None:
        assert not is_well_formed_api_key(malformed)
        with pytest.raises(InvalidTokenError) as caught:
            api_key_prefix(malformed)
        assert malformed not in caught.value.message


class TestOpaqueTokens:
    def test_generated_tokens_are_url_safe_and_unique(self) -> None:
        tokens = {generate_token() for _ in range(200)}
        assert len(tokens) == 200
        assert all(re.fullmatch(r"[A-Za-z0-9_\-]{43}", t) for t in tokens)

    def test_hash_is_hex_sha256(self) -> None:
        token = generate_token()
        assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
