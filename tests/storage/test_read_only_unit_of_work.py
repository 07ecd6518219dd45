"""Read-only units of work: usable results, no write lock on SQLite, no side effects."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import DatabaseSettings
from chainflow.hub.models import ConfigOverride
from chainflow.storage.relational import Database, upgrade


@pytest.fixture
async def database(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'ro.db'}"
    await upgrade(url)
    db = Database(url, DatabaseSettings(), clock=SimulatedClock(1_700_000_000_000))
    async with db.unit_of_work(system=True) as uow:
        uow.session.add(
            ConfigOverride(key="log.level", value='"INFO"', updated_at=SimulatedClock(1).now())
        )
    yield db
    await db.dispose()


class TestReadOnlyUnitOfWork:
    async def test_rows_read_stay_usable_after_the_block(self, database: Database) -> None:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            row = (await uow.session.execute(select(ConfigOverride))).scalar_one()
        assert row.key == "log.level" and row.value == '"INFO"'

    async def test_changes_are_never_committed(self, database: Database) -> None:
        async with database.unit_of_work(system=True, read_only=True) as uow:
            row = (await uow.session.execute(select(ConfigOverride))).scalar_one()
            row.value = '"DEBUG"'
        async with database.unit_of_work(system=True, read_only=True) as uow:
            again = (await uow.session.execute(select(ConfigOverride))).scalar_one()
        assert again.value == '"INFO"'

    async def test_after_commit_is_refused(self, database: Database) -> None:
        async def callback() -> None:
            return None

        async with database.unit_of_work(system=True, read_only=True) as uow:
            with pytest.raises(RuntimeError, match="never commits"):
                uow.after_commit(callback)

    async def test_reads_do_not_wait_for_a_writer(self, database: Database) -> None:
        writer_has_lock = asyncio.Event()
        release_writer = asyncio.Event()

        async def writer() -> None:
            async with database.unit_of_work(system=True) as uow:  # BEGIN IMMEDIATE
                await uow.session.execute(select(ConfigOverride))
                writer_has_lock.set()
                await release_writer.wait()

        task = asyncio.create_task(writer())
        await writer_has_lock.wait()
        try:
            async with asyncio.timeout(2):
                async with database.unit_of_work(system=True, read_only=True) as uow:
                    rows = (await uow.session.execute(select(ConfigOverride))).scalars().all()
            assert len(rows) == 1
        finally:
            release_writer.set()
            await task
