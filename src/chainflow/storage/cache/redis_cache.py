"""Redis-protocol cache (Redis or DragonflyDB) on ``redis.asyncio`` with a bounded pool.

Key layout: every key is ``<key_prefix><key>``. Plain values and counters are strings;
a token bucket is a hash ``{tokens, updated_at_us}`` whose expiry is the time it takes to
refill fully, so an idle bucket disappears and reads as full again. Counters with a TTL are
created by ``SET key 0 NX PX ttl`` and ``INCRBY`` in one MULTI/EXEC, so the TTL is set only
when the counter is created. Token buckets are one Lua script (EVALSHA, loaded again on
NOSCRIPT) that reads the server's ``TIME``, so every process shares one clock and one
atomic step. Only commands DragonflyDB also implements are used, and scripts declare
every key they touch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from redis.exceptions import RedisError, ResponseError

from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidInput
from chainflow.core.health import HealthReport
from chainflow.storage.api import TokenBucketResult
from chainflow.storage.cache import (
    token_bucket_result,
    validate_bucket_arguments,
    validate_ttl_s,
)
from chainflow.storage.redis_connection import DEFAULT_TIMEOUT_S, RedisConnection

DEFAULT_MAX_CONNECTIONS = 64

TAKE_TOKEN_SCRIPT = """
local capacity = tonumber(ARGV[1])
local refill_per_s = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated_at_us')
local tokens = tonumber(state[1])
local updated_at_us = tonumber(state[2])
if tokens == nil or updated_at_us == nil then
  tokens = capacity
else
  local elapsed_s = math.max(0, now_us - updated_at_us) / 1000000
  tokens = math.min(capacity, tokens + elapsed_s * refill_per_s)
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
local time_to_full_ms = math.max(1, math.ceil((capacity - tokens) / refill_per_s * 1000))
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'updated_at_us', string.format('%.0f', now_us))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', time_to_full_ms))
return {allowed, string.format('%.17g', tokens)}
"""


def ttl_to_ms(ttl_s: float) -> int:
    """Return ``ttl_s`` in whole milliseconds, at least one."""
    return max(1, round(ttl_s * 1000))


class RedisCache:
    """The ``Cache`` on a Redis-protocol server named by a ``redis://``, ``rediss://`` or
    ``unix://`` URL; keys are prefixed with ``key_prefix``."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        key_prefix: str = "",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._key_prefix = key_prefix
        self._connection = RedisConnection(
            url,
            clock,
            purpose="cache",
            health_name="cache",
            max_connections=max_connections,
            timeout_s=timeout_s,
        )
        self._client = self._connection.client
        self._take_token_script = self._client.register_script(TAKE_TOKEN_SCRIPT)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._connection.close()

    async def health(self) -> HealthReport:
        """PING the server and report the round trip in milliseconds."""
        return await self._connection.health()

    async def get(self, key: str) -> bytes | None:
        """Return the value of ``key``, or None when it is absent or expired."""
        with self._translated_errors(key):
            # the client keeps responses as bytes (no decode_responses)
            value = cast("bytes | None", await self._client.get(self._key_prefix + key))
        return value

    async def set(self, key: str, value: bytes, *, ttl_s: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing any value and any expiry."""
        validate_ttl_s(ttl_s)
        px = ttl_to_ms(ttl_s) if ttl_s is not None else None
        with self._translated_errors(key):
            await self._client.set(self._key_prefix + key, value, px=px)

    async def set_if_absent(self, key: str, value: bytes, *, ttl_s: float | None = None) -> bool:
        """Set only if ``key`` is absent; return whether it was set."""
        validate_ttl_s(ttl_s)
        px = ttl_to_ms(ttl_s) if ttl_s is not None else None
        with self._translated_errors(key):
            was_set = await self._client.set(self._key_prefix + key, value, px=px, nx=True)
        return bool(was_set)

    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it existed."""
        with self._translated_errors(key):
            deleted: int = await self._client.delete(self._key_prefix + key)
        return deleted > 0

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        """Add ``amount`` atomically and return the new value; ``ttl_s`` applies on creation."""
        validate_ttl_s(ttl_s)
        full_key = self._key_prefix + key
        with self._translated_errors(key):
            if ttl_s is None:
                return int(await self._client.incrby(full_key, amount))
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.set(full_key, b"0", px=ttl_to_ms(ttl_s), nx=True)
                pipe.incrby(full_key, amount)
                _created, new_value = await pipe.execute()
        return int(new_value)

    async def take_token(
        self, key: str, *, capacity: float, refill_per_s: float, cost: float = 1.0
    ) -> TokenBucketResult:
        """Take ``cost`` tokens from the bucket at ``key`` if it holds that many."""
        validate_bucket_arguments(capacity=capacity, refill_per_s=refill_per_s, cost=cost)
        with self._translated_errors(key):
            allowed, remaining = await self._take_token_script(
                keys=[self._key_prefix + key],
                args=[repr(float(capacity)), repr(float(refill_per_s)), repr(float(cost))],
            )
        return token_bucket_result(
            allowed=bool(int(allowed)),
            remaining=float(remaining),
            capacity=capacity,
            refill_per_s=refill_per_s,
            cost=cost,
        )

    @contextmanager
    def _translated_errors(self, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except ResponseError as e:
            text = str(e)
            if key is not None and "WRONGTYPE" in text:
                raise InvalidInput(
                    f"cache key {key!r} must hold the kind of value this operation uses; "
                    "received a key holding another kind (a plain value or a token bucket)"
                ) from e
            if key is not None and ("not an integer" in text or "overflow" in text):
                raise InvalidInput(
                    f"cache key {key!r} must hold a signed 64-bit integer to be incremented; "
                    "received a value that is not one or would overflow"
                ) from e
            raise self._connection.unavailable(e) from e
        except (RedisError, OSError) as e:
            raise self._connection.unavailable(e) from e
