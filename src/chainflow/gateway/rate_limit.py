"""Per-tenant REST rate limits: one token bucket per tenant, sized by the tenant's tier.

A tenant may make ``rest_requests_per_minute`` requests in a burst and regains one every
``60 / rest_requests_per_minute`` seconds. The bucket lives in the shared ``Cache`` (an
atomic Lua script on Redis), so every gateway process draws from the same one. Responses
carry the IETF draft headers ``RateLimit-Limit``, ``RateLimit-Remaining`` and
``RateLimit-Reset``; a 429 carries them too, plus ``Retry-After``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainflow.core.auth import Principal
from chainflow.core.errors import TierLimitExceeded
from chainflow.gateway.errors import RateLimitExceededError
from chainflow.storage.api import Cache

# Where the current request's quota is kept on ``request.state``, for the response headers.
REQUEST_STATE_ATTRIBUTE = "rate_limit"
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """A tenant's REST quota after one request: the limit, what is left, when it is full."""

    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        """Return the ``RateLimit-*`` response headers describing this state."""
        values = (self.limit, self.remaining, self.reset_s)
        return {name: str(value) for name, value in zip(RATE_LIMIT_HEADERS, values, strict=True)}

    def to_dict(self) -> dict[str, int]:
        return {"limit": self.limit, "remaining": self.remaining, "reset_s": self.reset_s}


class RateLimiter:
    """Charge each request to its tenant's token bucket; refuse it when the bucket is empty."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    @staticmethod
    def bucket_key(principal: Principal) -> str:
        return f"rl:rest:{principal.tenant_id}"

    async def check(self, principal: Principal) -> RateLimitState:
        """Take one request from the tenant's quota; raise ``RateLimitExceededError`` if none."""
        per_minute = principal.limits.rest_requests_per_minute
        if per_minute <= 0:
            raise TierLimitExceeded(
                f"tier {principal.tier.value!r} must allow REST requests to call this API; "
                "it allows 0 per minute"
            )
        result = await self._cache.take_token(
            self.bucket_key(principal), capacity=per_minute, refill_per_s=per_minute / 60
        )
        state = RateLimitState(
            limit=per_minute,
            remaining=max(0, math.floor(result.remaining)),
            reset_s=max(0, math.ceil(result.reset_after_s)),
        )
        if result.allowed:
            return state
        retry_after_s = max(result.retry_after_s, 0.0)
        raise RateLimitExceededError(
            f"requests must stay within {per_minute} per minute for tier "
            f"{principal.tier.value!r}; this one was over the quota. Retry in "
            f"{max(1, math.ceil(retry_after_s))} s.",
            retry_after_s=retry_after_s,
            headers=state.headers(),
            details={**state.to_dict(), "retry_after_s": round(retry_after_s, 3)},
        )


class RateLimitHeadersMiddleware:
    """Add the ``RateLimit-*`` headers of the request's quota to its response.

    A middleware rather than a dependency's ``Response`` parameter, so that routes returning
    their own ``Response`` (201s, 204s, streams) carry the headers too. Headers an error
    already set (a 429's) are kept.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = _request_state(scope).get(REQUEST_STATE_ATTRIBUTE)
                if isinstance(state, RateLimitState):
                    message = {**message, "headers": list(message.get("headers", []))}
                    headers = MutableHeaders(scope=message)
                    for name, value in state.headers().items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_quota)


def _request_state(scope: Scope) -> dict[str, Any]:
    state = scope.get("state")
    return state if isinstance(state, dict) else {}
