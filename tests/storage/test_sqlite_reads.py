"""SQLite's read pool: short reads on the loop, long ones moved to a thread, never a write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.exc import OperationalError

from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import DatabaseSettings
from chainflow.hub.models import ConfigOverride
from chainflow.storage.relational import Database, upgrade

# Counts to two million in SQLite's VM: far longer than the loop's budget for a statement.
LONG_COUNT = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) "
    "SELECT count(*) FROM c"
)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}"
    await upgrade(url)
    db = Database(url, DatabaseSettings(), clock=SimulatedClock(1_700_000_000_000))
    async with db.unit_of_work(system=True) as uow:
        uow.session.add(
            ConfigOverride(key="log.level", value='"INFO"', updated_at=SimulatedClock(1).now())
        )
    yield db
    await db.dispose()


class TestReadPool:
    async def test_reads_use_their_own_pool(self, database: Database) -> None:
        assert database.read_engine is not database.engine
        async with database.unit_of_work(system=True, read_only=True) as uow:
            row = (await uow.session.execute(select(ConfigOverride))).scalar_one()
        assert row.value == '"INFO"'

    async def test_a_long_read_completes_with_its_whole_result(self, database: Database) -> None:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            assert (await uow.session.execute(text(LONG_COUNT))).scalar_one() == 2_000_000
            # The transaction survives the interrupted first run: later reads still work.
            assert (await uow.session.execute(select(ConfigOverride.key))).scalar_one()

    async def test_a_long_read_leaves_the_loop_free(self, database: Database) -> None:
        ticks = 0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        async with database.unit_of_work(system=True, read_only=True) as uow:
            await uow.session.execute(text(LONG_COUNT))
        done.set()
        await ticker
        # Run on the loop, the count would have held it from start to end: no tick at all.
        assert ticks > 10

    async def test_a_read_only_unit_of_work_cannot_write(self, database: Database) -> None:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            with pytest.raises(OperationalError, match="readonly"):
                await uow.session.execute(delete(ConfigOverride))
        async with database.unit_of_work(system=True, read_only=True) as uow:
            assert (await uow.session.execute(select(ConfigOverride.key))).scalar_one()

    async def test_reads_see_what_writers_committed(self, database: Database) -> None:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            before = (await uow.session.execute(select(ConfigOverride.value))).scalar_one()
        async with database.unit_of_work(system=True) as uow:
            row = (await uow.session.execute(select(ConfigOverride))).scalar_one()
            row.value = '"DEBUG"'
        async with database.unit_of_work(system=True, read_only=True) as uow:
            after = (await uow.session.execute(select(ConfigOverride.value))).scalar_one()
        assert (before, after) == ('"INFO"', '"DEBUG"')
