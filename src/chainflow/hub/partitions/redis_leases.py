"""Partition leases on a Redis-protocol server (Redis or DragonflyDB).

One key per lease, ``<prefix>partitions:lease:<name>``, whose value is the holder and
whose PX expiry is the lease's: ``acquire`` is ``SET NX PX`` (or a ``PEXPIRE`` when the
caller holds it already), ``renew`` and ``release`` act only when the value is the caller,
each in one script so that no one else's lease is ever extended or deleted. Redis expires
keys on its own clock, so the holders' clocks need not agree.
"""

from __future__ import annotations

from chainflow.core.clock import Clock
from chainflow.core.health import HealthReport
from chainflow.hub.partitions.leases import ttl_ms
from chainflow.storage.api import DEFAULT_REDIS_TIMEOUT_S, RedisConnection

MAX_CONNECTIONS = 4

ACQUIRE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RENEW_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLeases:
    """The ``LeaseStore`` on Redis: one expiring key per lease."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        key_prefix: str = "",
        timeout_s: float = DEFAULT_REDIS_TIMEOUT_S,
    ) -> None:
        self._key_prefix = key_prefix
        self._connection = RedisConnection(
            url,
            clock,
            purpose="partition leases",
            health_name="leases",
            max_connections=MAX_CONNECTIONS,
            timeout_s=timeout_s,
        )
        client = self._connection.client
        self._acquire = client.register_script(ACQUIRE_SCRIPT)
        self._renew = client.register_script(RENEW_SCRIPT)
        self._release = client.register_script(RELEASE_SCRIPT)

    async def acquire(self, name: str, holder: str, ttl_s: float) -> bool:
        with self._connection.translated_errors():
            held = await self._acquire(keys=[self._key(name)], args=[holder, ttl_ms(ttl_s)])
        return bool(int(held))

    async def renew(self, name: str, holder: str, ttl_s: float) -> bool:
        with self._connection.translated_errors():
            renewed = await self._renew(keys=[self._key(name)], args=[holder, ttl_ms(ttl_s)])
        return bool(int(renewed))

    async def release(self, name: str, holder: str) -> bool:
        with self._connection.translated_errors():
            released = await self._release(keys=[self._key(name)], args=[holder])
        return bool(int(released))

    async def holder(self, name: str) -> str | None:
        with self._connection.translated_errors():
            value = await self._connection.client.get(self._key(name))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def health(self) -> HealthReport:
        return await self._connection.health()

    async def close(self) -> None:
        await self._connection.close()

    def _key(self, name: str) -> str:
        return f"{self._key_prefix}partitions:lease:{name}"
