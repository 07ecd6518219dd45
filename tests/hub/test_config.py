import asyncio
import json
from pathlib import Path

import pytest

from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import BusSettings
from chainflow.hub.bus import open_bus
from chainflow.hub.config import ConfigService, builtin_config_keys
from chainflow.hub.errors import InvalidConfigValueError, UnknownConfigKeyError
from chainflow.hub.events import config_changed_topic
from chainflow.storage.relational import Database, upgrade
from tests.fixtures.backends import delete_nats_stream, require_backend, unique_name
from tests.fixtures.settings import embedded_settings


@pytest.fixture(params=["memory", "nats"])
async def shared(request: pytest.FixtureRequest, tmp_path: Path):
    """A database and a bus shared by two ConfigServices, as by two processes."""
    settings = embedded_settings(tmp_path)
    database = Database(settings.database_url, settings.database)
    await upgrade(settings.database_url)
    if request.param == "nats":
        name = unique_name("cfg")
        bus_settings = BusSettings(
            url=require_backend("nats"), stream=name.upper(), subject_prefix=name
        )
    else:
        bus_settings = BusSettings(url="memory://")
    bus = open_bus(bus_settings)
    await bus.start()
    yield settings, database, bus
    await bus.close()
    await database.dispose()
    if request.param == "nats":
        await delete_nats_stream(bus_settings.url, bus_settings.stream)


def _service(shared, applied: list | None = None) -> ConfigService:
    settings, database, bus = shared
    hook = applied.append if applied is not None else None
    return ConfigService(
        settings=settings,
        database=database,
        bus=bus,
        clock=SimulatedClock(1_700_000_000_000),
        keys=builtin_config_keys(apply_log_level=hook),
    )


async def _eventually(predicate, timeout_s: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class TestEffective:
    async def test_defaults_come_from_settings(self, shared) -> None:
        config = _service(shared)
        await config.start()
        try:
            assert config.get("log.level") == "INFO"
            assert config.effective()["log.level"]["source"] == "settings"
        finally:
            await config.stop()


class TestSetOverride:
    async def test_override_is_stored_broadcast_and_applied_everywhere(self, shared) -> None:
        applied_here: list = []
        applied_there: list = []
        here, there = _service(shared, applied_here), _service(shared, applied_there)
        await here.start()
        await there.start()
        seen: list[dict] = []

        async def record(message) -> None:
            seen.append(json.loads(message.data))

        await shared[2].subscribe(config_changed_topic(), record)
        try:
            assert await here.set_override("log.level", "debug".upper(), updated_by="u1") == "DEBUG"
            await _eventually(lambda: there.get("log.level") == "DEBUG")
            assert applied_there[-1] == "DEBUG" and applied_here[-1] == "DEBUG"
            assert seen[-1]["key"] == "log.level" and seen[-1]["updated_by"] == "u1"
            assert there.effective()["log.level"]["source"] == "override"
        finally:
            await here.stop()
            await there.stop()

    async def test_stored_override_is_loaded_on_start(self, shared) -> None:
        first = _service(shared)
        await first.start()
        await first.set_override("hub.heartbeat_interval_s", 2.5)
        await first.stop()
        restarted = _service(shared)
        await restarted.start()
        try:
            assert restarted.get("hub.heartbeat_interval_s") == 2.5
        finally:
            await restarted.stop()

    async def test_clear_returns_to_settings(self, shared) -> None:
        config = _service(shared)
        await config.start()
        try:
            await config.set_override("log.level", "ERROR")
            await _eventually(lambda: config.get("log.level") == "ERROR")
            await config.clear_override("log.level")
            await _eventually(lambda: config.get("log.level") == "INFO")
        finally:
            await config.stop()

    async def test_invalid_value_is_refused_and_nothing_stored(self, shared) -> None:
        config = _service(shared)
        await config.start()
        try:
            with pytest.raises(InvalidConfigValueError) as caught:
                await config.set_override("hub.heartbeat_interval_s", -1)
            assert caught.value.code == "invalid_config_value"
            assert "received -1" in caught.value.message
            assert config.get("hub.heartbeat_interval_s") == 0.2
        finally:
            await config.stop()

    async def test_unknown_key_is_refused(self, shared) -> None:
        config = _service(shared)
        await config.start()
        try:
            with pytest.raises(UnknownConfigKeyError, match="received 'no.such'"):
                await config.set_override("no.such", 1)
        finally:
            await config.stop()
