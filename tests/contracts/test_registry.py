"""Contract of ``hub.api.ServiceRegistry``: every backend passes the same assertions.

The in-process backend runs on a ``SimulatedClock`` that ``wait`` advances; the Redis
backend runs on real time with a short instance TTL, so ``wait`` sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as redis_asyncio

from chainflow.core.clock import Clock, SimulatedClock, WallClock
from chainflow.core.errors import ConfigurationError, DependencyUnavailable, InvalidInput
from chainflow.hub.api import ServiceInstance, ServiceRegistry
from chainflow.hub.registry import open_registry
from tests.fixtures.backends import require_backend, unique_name

TTL_S = 0.3
START_MS = 1_700_000_000_000
UNREACHABLE_URL = "redis://hub-user:s3cret-pw@127.0.0.1:1/0"


@dataclass
class RegistryUnderTest:
    registry: ServiceRegistry
    backend: str
    clock: Clock
    key_prefix: str

    async def wait(self, seconds: float) -> None:
        if isinstance(self.clock, SimulatedClock):
            self.clock.advance_ms(round(seconds * 1000))
        else:
            await asyncio.sleep(seconds)


def make_instance(
    instance_id: str, services: tuple[str, ...] = ("bridge",), started_at_ms: int = START_MS
) -> ServiceInstance:
    return ServiceInstance(
        instance_id=instance_id,
        services=services,
        url=f"http://{instance_id}.internal:8000",
        started_at_ms=started_at_ms,
        meta={"version": "1.2.3", "pid": 42},
    )


async def delete_keys_with_prefix(url: str, prefix: str) -> None:
    client = redis_asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[RegistryUnderTest]:
    prefix = f"{unique_name('hub')}:"
    if request.param == "memory":
        clock = SimulatedClock(START_MS)
        registry = open_registry("memory://", TTL_S, clock, prefix)
        yield RegistryUnderTest(registry, "memory", clock, prefix)
        await registry.close()
        return
    url = require_backend("redis")
    registry = open_registry(url, TTL_S, WallClock(), prefix)
    try:
        yield RegistryUnderTest(registry, "redis", WallClock(), prefix)
    finally:
        await registry.close()
        await delete_keys_with_prefix(url, prefix)


class TestOpenRegistry:
    def test_memory_url_returns_in_process_registry(self) -> None:
        registry = open_registry("memory://", TTL_S, SimulatedClock(), "cf:")
        assert isinstance(registry, ServiceRegistry)
        assert registry.backend == "memory"

    async def test_redis_url_returns_redis_registry(self) -> None:
        registry = open_registry("redis://127.0.0.1:6379/0", TTL_S, WallClock(), "cf:")
        assert isinstance(registry, ServiceRegistry)
        assert registry.backend == "redis"
        await registry.close()

    def test_unknown_scheme_raises_configuration_error_without_password(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            open_registry("etcd://u:hunter2@h:2379", TTL_S, WallClock(), "cf:")
        assert "hunter2" not in caught.value.message
        assert "memory://" in caught.value.message
        assert "redis://" in caught.value.message

    @pytest.mark.parametrize("ttl_s", [0.0, -5.0])
    def test_non_positive_ttl_raises_configuration_error(self, ttl_s: float) -> None:
        with pytest.raises(ConfigurationError):
            open_registry("memory://", ttl_s, SimulatedClock(), "cf:")


class TestRegister:
    async def test_registered_instance_is_discoverable(self, subject: RegistryUnderTest) -> None:
        instance = make_instance("a", services=("bridge", "features"))
        await subject.registry.register(instance)
        [found] = await subject.registry.discover("bridge")
        assert found.instance_id == "a"
        assert found.services == ("bridge", "features")
        assert found.url == instance.url
        assert found.started_at_ms == instance.started_at_ms
        assert found.meta == {"version": "1.2.3", "pid": 42}

    async def test_register_records_heartbeat_time(self, subject: RegistryUnderTest) -> None:
        before_ms = subject.clock.now_ms()
        await subject.registry.register(make_instance("a"))
        [found] = await subject.registry.discover("bridge")
        assert before_ms <= found.last_heartbeat_ms <= subject.clock.now_ms()

    async def test_registering_again_replaces_services(self, subject: RegistryUnderTest) -> None:
        await subject.registry.register(make_instance("a", services=("bridge",)))
        await subject.registry.register(make_instance("a", services=("ml",)))
        assert await subject.registry.discover("bridge") == []
        assert [i.instance_id for i in await subject.registry.discover("ml")] == ["a"]
        assert [i.instance_id for i in await subject.registry.instances()] == ["a"]

    async def test_empty_instance_id_raises_invalid_input(self, subject: RegistryUnderTest) -> None:
        with pytest.raises(InvalidInput):
            await subject.registry.register(make_instance(""))

    async def test_no_services_raises_invalid_input(self, subject: RegistryUnderTest) -> None:
        with pytest.raises(InvalidInput):
            await subject.registry.register(make_instance("a", services=()))


class TestDiscover:
    async def test_several_instances_return_oldest_first(self, subject: RegistryUnderTest) -> None:
        for instance_id, started_at_ms in (("b", START_MS + 2), ("c", START_MS + 3)):
            await subject.registry.register(make_instance(instance_id, started_at_ms=started_at_ms))
        await subject.registry.register(make_instance("a", started_at_ms=START_MS + 1))
        found = await subject.registry.discover("bridge")
        assert [i.instance_id for i in found] == ["a", "b", "c"]

    async def test_only_instances_hosting_the_service_are_returned(
        self, subject: RegistryUnderTest
    ) -> None:
        await subject.registry.register(make_instance("a", services=("bridge", "features")))
        await subject.registry.register(make_instance("b", services=("ml",)))
        assert [i.instance_id for i in await subject.registry.discover("features")] == ["a"]
        assert [i.instance_id for i in await subject.registry.discover("ml")] == ["b"]

    async def test_unknown_service_returns_empty_list(self, subject: RegistryUnderTest) -> None:
        await subject.registry.register(make_instance("a"))
        assert await subject.registry.discover("analytics") == []


class TestHeartbeat:
    async def test_heartbeats_keep_instance_alive_past_ttl(
        self, subject: RegistryUnderTest
    ) -> None:
        await subject.registry.register(make_instance("a"))
        for _ in range(4):
            await subject.wait(TTL_S / 2)
            assert await subject.registry.heartbeat("a") is True
        assert [i.instance_id for i in await subject.registry.discover("bridge")] == ["a"]

    async def test_heartbeat_updates_last_heartbeat_ms(self, subject: RegistryUnderTest) -> None:
        await subject.registry.register(make_instance("a"))
        [registered] = await subject.registry.discover("bridge")
        await subject.wait(0.05)
        await subject.registry.heartbeat("a")
        [refreshed] = await subject.registry.discover("bridge")
        assert refreshed.last_heartbeat_ms > registered.last_heartbeat_ms

    async def test_unknown_instance_returns_false(self, subject: RegistryUnderTest) -> None:
        assert await subject.registry.heartbeat("never-registered") is False

    async def test_expired_instance_returns_false(self, subject: RegistryUnderTest) -> None:
        await subject.registry.register(make_instance("a"))
        await subject.wait(TTL_S + 0.1)
        assert await subject.registry.heartbeat("a") is False
        assert await subject.registry.discover("bridge") == []


class TestExpiry:
    async def test_instance_without_heartbeat_disappears_after_ttl(
        self, subject: RegistryUnderTest
    ) -> None:
        await subject.registry.register(make_instance("a"))
        await subject.wait(TTL_S / 2)
        assert len(await subject.registry.discover("bridge")) == 1
        await subject.wait(TTL_S)
        assert await subject.registry.discover("bridge") == []
        assert await subject.registry.instances() == []

    async def test_expired_instance_can_register_again(self, subject: RegistryUnderTest) -> None:
        await subject.registry.register(make_instance("a"))
        await subject.wait(TTL_S + 0.1)
        assert await subject.registry.discover("bridge") == []
        await subject.registry.register(make_instance("a"))
        assert [i.instance_id for i in await subject.registry.discover("bridge")] == ["a"]


class TestDeregister:
    async def test_deregistered_instance_is_not_discovered(
        self, subject: RegistryUnderTest
    ) -> None:
        await subject.registry.register(make_instance("a"))
        await subject.registry.register(make_instance("b"))
        await subject.registry.deregister("a")
        assert [i.instance_id for i in await subject.registry.discover("bridge")] == ["b"]
        assert await subject.registry.heartbeat("a") is False

    async def test_unknown_instance_does_nothing(self, subject: RegistryUnderTest) -> None:
        await subject.registry.deregister("never-registered")
        assert await subject.registry.instances() == []


class TestInstances:
    async def test_all_live_instances_are_listed_oldest_first(
        self, subject: RegistryUnderTest
    ) -> None:
        await subject.registry.register(make_instance("b", ("ml",), START_MS + 2))
        await subject.registry.register(make_instance("a", ("bridge",), START_MS + 1))
        await subject.registry.register(make_instance("c", ("risk", "trading"), START_MS + 3))
        listed = await subject.registry.instances()
        assert [i.instance_id for i in listed] == ["a", "b", "c"]

    async def test_empty_registry_lists_nothing(self, subject: RegistryUnderTest) -> None:
        assert await subject.registry.instances() == []


class TestHealth:
    async def test_reachable_backend_reports_ok(self, subject: RegistryUnderTest) -> None:
        report = await subject.registry.health()
        assert report.ok is True
        assert report.backend == subject.backend


class TestRedisIndexCleanup:
    async def test_discover_removes_index_entries_of_expired_instances(self) -> None:
        url = require_backend("redis")
        prefix = f"{unique_name('hub')}:"
        registry = open_registry(url, TTL_S, WallClock(), prefix)
        client = redis_asyncio.Redis.from_url(url)
        try:
            await registry.register(make_instance("a"))
            await registry.register(make_instance("b", started_at_ms=START_MS + 1))
            await asyncio.sleep(TTL_S / 2)
            assert await registry.heartbeat("b") is True
            await asyncio.sleep(TTL_S / 2 + 0.075)
            assert [i.instance_id for i in await registry.discover("bridge")] == ["b"]
            assert await client.zrange(f"{prefix}registry:service:bridge", 0, -1) == [b"b"]
            assert [i.instance_id for i in await registry.instances()] == ["b"]
            assert await client.zrange(f"{prefix}registry:instances", 0, -1) == [b"b"]
        finally:
            await registry.close()
            await client.aclose()
            await delete_keys_with_prefix(url, prefix)


class TestRedisUnreachable:
    async def test_operation_raises_dependency_unavailable_without_password(self) -> None:
        registry = open_registry(UNREACHABLE_URL, TTL_S, WallClock(), "cf:")
        try:
            with pytest.raises(DependencyUnavailable) as caught:
                await registry.discover("bridge")
        finally:
            await registry.close()
        assert "s3cret-pw" not in caught.value.message
        assert "127.0.0.1:1" in caught.value.message

    async def test_health_reports_not_ok_without_password(self) -> None:
        registry = open_registry(UNREACHABLE_URL, TTL_S, WallClock(), "cf:")
        try:
            report = await registry.health()
        finally:
            await registry.close()
        assert report.ok is False
        assert "s3cret-pw" not in str(report.to_dict())
