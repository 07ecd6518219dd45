"""The same kernel on the real backends of this machine: PostgreSQL, Redis, NATS."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chainflow.core.errors import ConfigurationError
from chainflow.core.settings import BusSettings, CacheSettings, DatabaseSettings
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.storage.relational.migrate import head_revision
from tests.fixtures.backends import (
    delete_nats_stream,
    delete_redis_keys,
    require_backend,
    unique_name,
)
from tests.fixtures.database import (
    ProvisionedDatabase,
    create_postgresql_database,
    drop_postgresql_database,
)
from tests.fixtures.settings import embedded_settings


@pytest.fixture
async def postgres() -> AsyncIterator[ProvisionedDatabase]:
    admin = require_backend("postgres")
    database = await create_postgresql_database(admin)
    try:
        yield database
    finally:
        await drop_postgresql_database(admin, database)


@pytest.fixture
async def scaled_settings(tmp_path: Path, postgres: ProvisionedDatabase):
    redis_url = require_backend("redis")
    nats_url = require_backend("nats")
    name = unique_name("kernel")
    settings = embedded_settings(
        tmp_path,
        database=DatabaseSettings(url=postgres.url, pool_size=2, max_overflow=2),
        cache=CacheSettings(url=redis_url, key_prefix=f"{name}:"),
        bus=BusSettings(url=nats_url, stream=name.upper(), subject_prefix=name),
    )
    yield settings
    await delete_nats_stream(nats_url, name.upper())
    await delete_redis_keys(redis_url, f"{name}:*")


class TestKernelOnRealBackends:
    async def test_refuses_to_start_on_unmigrated_postgres(self, scaled_settings) -> None:
        kernel = Kernel(scaled_settings)
        with pytest.raises(ConfigurationError, match="Run `chainflow db upgrade` first"):
            await kernel.start()

    async def test_ready_reports_each_real_backend(self, scaled_settings) -> None:
        kernel = Kernel(scaled_settings)
        kernel.build()
        assert await kernel.migrate() == head_revision()
        app = create_app(kernel)
        await kernel.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                ready = await client.get("/ready")
                assert ready.status_code == 200, ready.text
                checks = ready.json()["checks"]
                assert checks["database"]["backend"] == "postgresql"
                assert checks["database"]["rls_enforced"] is True
                assert checks["cache"]["backend"] == "redis"
                assert checks["registry"]["backend"] == "redis"
                assert checks["bus"]["backend"] == "nats"
                services = (await client.get("/api/v1/hub/services")).json()["items"]
                assert [s["instance_id"] for s in services] == [kernel.instance_id]
        finally:
            await kernel.stop()
        # A clean stop deregisters the instance from the shared registry.
        probe = Kernel(scaled_settings).build()
        try:
            assert await probe.infra.registry.instances() == []
        finally:
            await probe.stop()
