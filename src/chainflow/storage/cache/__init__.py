"""Cache backends: in-process by default, Redis protocol (Redis, DragonflyDB) at scale.

``open_cache`` picks the backend from the URL scheme. This module also holds the argument
checks and the token-bucket result arithmetic that every backend shares, so that both
answer the same inputs with the same numbers and the same errors.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from chainflow.core.clock import Clock
from chainflow.core.errors import ConfigurationError, InvalidInput
from chainflow.core.logging import redact_url
from chainflow.core.optional import load_backend
from chainflow.core.settings import CacheSettings
from chainflow.storage.api import Cache, TokenBucketResult

MEMORY_SCHEMES = ("memory",)
REDIS_SCHEMES = ("redis", "rediss", "unix")
ACCEPTED_SCHEMES = MEMORY_SCHEMES + REDIS_SCHEMES


def open_cache(settings: CacheSettings, clock: Clock) -> Cache:
    """Build the cache named by ``settings.url``; connections open on first use."""
    scheme = urlsplit(settings.url).scheme.lower()
    if scheme in MEMORY_SCHEMES:
        from chainflow.storage.cache.memory import InProcessCache

        return InProcessCache(clock, key_prefix=settings.key_prefix)
    if scheme in REDIS_SCHEMES:
        backend_class = load_backend(
            "chainflow.storage.cache.redis_cache",
            "RedisCache",
            library="redis",
            extra="redis",
            purpose=f"cache URL {redact_url(settings.url)!r}",
        )
        return backend_class(settings.url, clock, key_prefix=settings.key_prefix)
    accepted = ", ".join(f"{s}://" for s in ACCEPTED_SCHEMES)
    raise ConfigurationError(
        f"cache URL must start with one of {accepted}; received {redact_url(settings.url)!r}"
    )


def validate_ttl_s(ttl_s: float | None) -> None:
    """Raise ``InvalidInput`` unless ``ttl_s`` is None or a positive finite number."""
    if ttl_s is not None and not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise InvalidInput(f"ttl_s must be a positive number of seconds; received {ttl_s!r}")


def validate_bucket_arguments(*, capacity: float, refill_per_s: float, cost: float) -> None:
    """Raise ``InvalidInput`` unless 0 < cost <= capacity and the refill rate is positive."""
    if not (capacity > 0 and math.isfinite(capacity)):
        raise InvalidInput(f"token bucket capacity must be positive; received {capacity!r}")
    if not (refill_per_s > 0 and math.isfinite(refill_per_s)):
        raise InvalidInput(f"token bucket refill_per_s must be positive; received {refill_per_s!r}")
    if not (cost > 0 and math.isfinite(cost)):
        raise InvalidInput(f"token bucket cost must be positive; received {cost!r}")
    if cost > capacity:
        raise InvalidInput(
            f"token bucket cost must be at most the capacity {capacity!r}; received {cost!r}, "
            "which could never be taken"
        )


def token_bucket_result(
    *, allowed: bool, remaining: float, capacity: float, refill_per_s: float, cost: float
) -> TokenBucketResult:
    """Describe a bucket left with ``remaining`` tokens after one take of ``cost``."""
    remaining = min(capacity, max(0.0, remaining))
    return TokenBucketResult(
        allowed=allowed,
        remaining=remaining,
        capacity=capacity,
        retry_after_s=max(0.0, cost - remaining) / refill_per_s,
        reset_after_s=(capacity - remaining) / refill_per_s,
    )
