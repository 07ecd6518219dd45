"""Service registry on a Redis-protocol server (Redis or DragonflyDB).

Key layout, every key prefixed with ``key_prefix``:
- ``registry:instance:<instance_id>``: a hash ``{instance: <ServiceInstance JSON>,
  last_heartbeat_ms}`` that expires ``ttl_s`` after the last register or heartbeat;
- ``registry:instances``: a sorted set of every registered instance id, scored by
  ``started_at_ms``;
- ``registry:service:<service>``: the same, for the instances hosting one service.

The sorted sets are indexes, so ``discover`` never scans the keyspace. An index entry
whose instance hash expired is dropped by the reader that finds it, in a Lua script that
checks the hash again, so an instance that registers meanwhile is never dropped. Scripts
declare every key they touch, as DragonflyDB requires.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import cast

from chainflow.core.clock import Clock
from chainflow.core.health import HealthReport
from chainflow.hub.api import ServiceInstance
from chainflow.hub.registry import encode_instance, validate_ttl_s
from chainflow.storage.api import DEFAULT_REDIS_TIMEOUT_S, RedisConnection

DEFAULT_MAX_CONNECTIONS = 16

HEARTBEAT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'last_heartbeat_ms', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] is an index, KEYS[i + 1] the instance hash of the id in ARGV[i].
DROP_EXPIRED_SCRIPT = """
local dropped = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    dropped = dropped + redis.call('ZREM', KEYS[1], ARGV[i - 1])
  end
end
return dropped
"""


class RedisRegistry:
    """The ``ServiceRegistry`` on Redis: instance hashes with a TTL plus sorted-set indexes."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        ttl_s: float,
        key_prefix: str = "",
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        timeout_s: float = DEFAULT_REDIS_TIMEOUT_S,
    ) -> None:
        validate_ttl_s(ttl_s)
        self._clock = clock
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._key_prefix = key_prefix
        self._connection = RedisConnection(
            url,
            clock,
            purpose="service registry",
            health_name="registry",
            max_connections=max_connections,
            timeout_s=timeout_s,
        )
        self._client = self._connection.client
        self._heartbeat_script = self._client.register_script(HEARTBEAT_SCRIPT)
        self._drop_expired_script = self._client.register_script(DROP_EXPIRED_SCRIPT)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._connection.close()

    async def health(self) -> HealthReport:
        """PING the server and report the round trip in milliseconds."""
        return await self._connection.health()

    async def register(self, instance: ServiceInstance) -> None:
        """Record ``instance`` (replacing one with the same id) with a fresh heartbeat."""
        encoded = encode_instance(instance)
        instance_key = self._instance_key(instance.instance_id)
        with self._connection.translated_errors():
            previous = await self._client.hget(instance_key, "instance")
            left_services = set(self._services_of(previous)) - set(instance.services)
            score = {instance.instance_id: instance.started_at_ms}
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(instance_key)
                pipe.hset(
                    instance_key,
                    mapping={"instance": encoded, "last_heartbeat_ms": self._clock.now_ms()},
                )
                pipe.pexpire(instance_key, self._ttl_ms)
                pipe.zadd(self._all_index_key(), score)
                for service in instance.services:
                    pipe.zadd(self._service_index_key(service), score)
                for service in left_services:
                    pipe.zrem(self._service_index_key(service), instance.instance_id)
                await pipe.execute()

    async def heartbeat(self, instance_id: str) -> bool:
        """Extend the life of ``instance_id``; return False when it is unknown or expired."""
        with self._connection.translated_errors():
            extended = await self._heartbeat_script(
                keys=[self._instance_key(instance_id)],
                args=[self._clock.now_ms(), self._ttl_ms],
            )
        return bool(int(extended))

    async def deregister(self, instance_id: str) -> None:
        """Forget ``instance_id``; forgetting an unknown instance does nothing."""
        instance_key = self._instance_key(instance_id)
        with self._connection.translated_errors():
            previous = await self._client.hget(instance_key, "instance")
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(instance_key)
                pipe.zrem(self._all_index_key(), instance_id)
                for service in self._services_of(previous):
                    pipe.zrem(self._service_index_key(service), instance_id)
                await pipe.execute()

    async def discover(self, service: str) -> list[ServiceInstance]:
        """Return the live instances hosting ``service``, oldest first."""
        found = await self._live_in_index(self._service_index_key(service))
        return [i for i in found if service in i.services]

    async def instances(self) -> list[ServiceInstance]:
        """Return every live instance, oldest first."""
        return await self._live_in_index(self._all_index_key())

    async def _live_in_index(self, index_key: str) -> list[ServiceInstance]:
        with self._connection.translated_errors():
            # the client keeps responses as bytes (no decode_responses)
            raw_ids = cast("list[bytes]", await self._client.zrange(index_key, 0, -1))
            ids = [raw.decode() for raw in raw_ids]
            async with self._client.pipeline(transaction=False) as pipe:
                for instance_id in ids:
                    pipe.hmget(self._instance_key(instance_id), ["instance", "last_heartbeat_ms"])
                rows: list[list[bytes | None]] = await pipe.execute()
            live: list[ServiceInstance] = []
            expired_ids: list[str] = []
            for instance_id, (encoded, last_heartbeat_ms) in zip(ids, rows, strict=True):
                if encoded is None:
                    expired_ids.append(instance_id)
                    continue
                instance = ServiceInstance.from_dict(json.loads(encoded))
                if last_heartbeat_ms is not None:
                    instance = dataclasses.replace(
                        instance, last_heartbeat_ms=int(last_heartbeat_ms)
                    )
                live.append(instance)
            if expired_ids:
                await self._drop_expired(index_key, expired_ids)
        return sorted(live, key=lambda i: (i.started_at_ms, i.instance_id))

    async def _drop_expired(self, index_key: str, instance_ids: Sequence[str]) -> None:
        await self._drop_expired_script(
            keys=[index_key, *(self._instance_key(i) for i in instance_ids)],
            args=list(instance_ids),
        )

    def _services_of(self, encoded: bytes | str | None) -> tuple[str, ...]:
        if encoded is None:
            return ()
        return ServiceInstance.from_dict(json.loads(encoded)).services

    def _instance_key(self, instance_id: str) -> str:
        return f"{self._key_prefix}registry:instance:{instance_id}"

    def _all_index_key(self) -> str:
        return f"{self._key_prefix}registry:instances"

    def _service_index_key(self, service: str) -> str:
        return f"{self._key_prefix}registry:service:{service}"
