"""The per-token memo of the ``Authenticator``: a warm request skips the JWT verification
and the decoding of its cached principal, and still sees every revocation at once.

Changes made "by another process" go through a second ``PrincipalCache`` on the same cache,
as the users service's invalidations do (``Kernel.principal_cache``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chainflow.core.auth import Principal, Role
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import InvalidCredentialsError
from chainflow.core.settings import AuthSettings
from chainflow.core.tokens import AccessTokenClaims, TokenExpiredError
from chainflow.gateway.auth import Authenticator, PrincipalCache
from chainflow.storage.cache.memory import InProcessCache
from tests.fixtures.auth import CONTEXT_TTL_S, AuthStack, build_auth_stack, make_principal

START_MS = 1_700_000_000_000
TOKEN_TTL_S = 30  # shorter than the principal cache's 60 s, so expiry comes first


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
def stack(clock: SimulatedClock) -> AuthStack:
    return build_auth_stack(
        InProcessCache(clock), clock, AuthSettings(access_token_ttl_s=TOKEN_TTL_S)
    )


@pytest.fixture
def verifications(stack: AuthStack) -> list[str]:
    """The tokens the codec verified, in order."""
    verified: list[str] = []
    verify: Callable[[str], AccessTokenClaims] = stack.codec.verify

    def counting(token: str) -> AccessTokenClaims:
        verified.append(token)
        return verify(token)

    stack.codec.verify = counting  # type: ignore[method-assign]
    return verified


def another_process(stack: AuthStack) -> PrincipalCache:
    return PrincipalCache(stack.cache, ttl_s=CONTEXT_TTL_S)


async def authenticate(stack: AuthStack, token: str) -> Principal:
    return await stack.authenticator.authenticate(f"Bearer {token}")


class TestWarmRequest:
    async def test_a_token_is_verified_once_and_its_session_resolved_once(
        self, stack: AuthStack, verifications: list[str]
    ) -> None:
        token = stack.login(make_principal())

        answers = [await authenticate(stack, token) for _ in range(3)]

        assert verifications == [token]
        assert stack.resolver.session_calls == 1
        assert answers[0] == make_principal()
        assert answers[1] is answers[0] and answers[2] is answers[0]  # decoded once

    async def test_each_token_has_its_own_entry(
        self, stack: AuthStack, verifications: list[str]
    ) -> None:
        first = stack.login(make_principal(session_id="s-1"))
        second = stack.login(make_principal(session_id="s-2", user_id="u-2"))

        assert (await authenticate(stack, first)).user_id == "u-1"
        assert (await authenticate(stack, second)).user_id == "u-2"
        assert (await authenticate(stack, first)).user_id == "u-1"
        assert verifications == [first, second]


class TestChangesAreSeenAtOnce:
    async def test_a_session_revoked_by_another_process_is_refused(self, stack: AuthStack) -> None:
        token = stack.login(make_principal())
        await authenticate(stack, token)
        del stack.resolver.sessions["s-1"]

        await another_process(stack).invalidate_session("s-1")

        with pytest.raises(InvalidCredentialsError):
            await authenticate(stack, token)

    async def test_a_role_changed_by_another_process_is_the_new_role(
        self, stack: AuthStack
    ) -> None:
        token = stack.login(make_principal(role=Role.TRADER))
        await authenticate(stack, token)

        await another_process(stack).put(
            PrincipalCache.session_key("s-1"), make_principal(role=Role.VIEWER)
        )

        assert (await authenticate(stack, token)).role is Role.VIEWER

    async def test_invalidating_here_forgets_the_sessions_tokens(
        self, stack: AuthStack, verifications: list[str]
    ) -> None:
        token = stack.login(make_principal(session_id="s-1"))
        kept = stack.login(make_principal(session_id="s-2", user_id="u-2"))
        await authenticate(stack, token)
        await authenticate(stack, kept)

        await stack.authenticator.invalidate_session("s-1")

        assert len(stack.authenticator.verified_tokens) == 1
        await authenticate(stack, token)
        assert verifications == [token, kept, token]
        assert stack.resolver.session_calls == 3


class TestLifetime:
    async def test_an_expired_token_is_refused_though_it_was_remembered(
        self, stack: AuthStack, clock: SimulatedClock
    ) -> None:
        token = stack.login(make_principal())
        await authenticate(stack, token)

        clock.advance_ms(TOKEN_TTL_S * 1000)

        with pytest.raises(TokenExpiredError):
            await authenticate(stack, token)

    async def test_a_token_is_verified_again_after_the_principal_cache_ttl(
        self, clock: SimulatedClock, stack: AuthStack
    ) -> None:
        long_lived = build_auth_stack(stack.cache, clock, AuthSettings(access_token_ttl_s=900))
        codec_verify = long_lived.codec.verify
        seen: list[str] = []

        def counting(token: str) -> AccessTokenClaims:
            seen.append(token)
            return codec_verify(token)

        long_lived.codec.verify = counting  # type: ignore[method-assign]
        token = long_lived.login(make_principal())
        await authenticate(long_lived, token)

        clock.advance_ms(int(CONTEXT_TTL_S * 1000) - 1)
        await authenticate(long_lived, token)
        clock.advance_ms(1)
        await authenticate(long_lived, token)

        assert seen == [token, token]

    async def test_the_memo_keeps_the_most_recently_used_tokens_up_to_its_bound(
        self, stack: AuthStack, clock: SimulatedClock, verifications: list[str]
    ) -> None:
        authenticator = Authenticator(
            stack.codec, stack.resolver, stack.cache, clock, CONTEXT_TTL_S, max_verified_tokens=2
        )
        tokens = [
            stack.login(make_principal(session_id=f"s-{i}", user_id=f"u-{i}")) for i in range(3)
        ]

        for token in (tokens[0], tokens[1], tokens[0], tokens[2], tokens[0]):
            await authenticator.authenticate(f"Bearer {token}")

        assert len(authenticator.verified_tokens) == 2
        assert verifications == [tokens[0], tokens[1], tokens[2]]  # tokens[1] went first
