"""``Database.lean_read``: a read-only unit of work without an ORM session.

On PostgreSQL the application's role is neither superuser nor BYPASSRLS, so row-level
security applies: the statements here read ``signals`` without any tenant filter of their
own, and what they see is what RLS lets through. The pool holds one connection, so every
read after the first runs on the connection the one before returned (or on its
replacement): a setting that outlived its read would show in the next.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, bindparam, func, literal, select, true

from chainflow.core.ids import TenantId
from chainflow.core.settings import DatabaseSettings
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database, ReadStatement, upgrade
from chainflow.trading.events import SignalIssued
from chainflow.trading.models import SignalRecord
from chainflow.trading.repository import SignalRepository
from tests.fixtures.database import ProvisionedDatabase

OURS = TenantContext(tenant_id=TenantId("tenant-lean-a"))
THEIRS = TenantContext(tenant_id=TenantId("tenant-lean-b"))
# Outside the characters written as a literal: the tenant is bound as a parameter.
QUOTED = TenantContext(tenant_id=TenantId("tenant o'lean; SELECT 1 --"))

_SIGNALS = SignalRecord.__table__
EVERY_SIGNAL = ReadStatement(select(_SIGNALS.c.model).order_by(_SIGNALS.c.model))
SIGNALS_OF = ReadStatement(
    select(_SIGNALS.c.model).where(_SIGNALS.c.tenant_id == bindparam("tenant_id"))
)
TENANT_SETTING = ReadStatement(select(func.current_setting(literal("app.tenant_id"), true())))
MISSING = ReadStatement(select(Table("no_such_table", MetaData(), Column("n", Integer)).c.n))


def issued(model: str) -> SignalIssued:
    return SignalIssued(
        symbol="EURUSD",
        ts=1_750_000_000_000,
        action="buy",
        confidence=0.6,
        size=0.1,
        stop_loss=None,
        take_profit=None,
        model=model,
        reasons=["trend"],
    )


@pytest.fixture
async def database(fresh_database: ProvisionedDatabase) -> AsyncIterator[Database]:
    await upgrade(fresh_database.url)
    settings = DatabaseSettings(url=fresh_database.url, pool_size=1, max_overflow=0)
    database = Database(fresh_database.url, settings)
    for tenant in (OURS, THEIRS, QUOTED):
        async with database.unit_of_work(tenant) as uow:
            await SignalRepository(uow.session, tenant).record(issued(tenant.tenant_id), "M1")
    try:
        yield database
    finally:
        await database.dispose()


async def models(
    database: Database, tenant: TenantContext | None, *, system: bool = False
) -> list[str]:
    async with database.lean_read(tenant, system=system) as read:
        return [row[0] for row in await read.fetch(EVERY_SIGNAL, {})]


def postgresql_only(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")


class TestRowLevelSecurity:
    async def test_a_tenant_reads_its_own_rows_only(self, database: Database) -> None:
        postgresql_only(database)

        assert await models(database, OURS) == ["tenant-lean-a"]
        assert await models(database, THEIRS) == ["tenant-lean-b"]

    async def test_a_tenant_bound_as_a_parameter_reads_its_own_rows_only(
        self, database: Database
    ) -> None:
        postgresql_only(database)

        assert await models(database, QUOTED) == [QUOTED.tenant_id]

    async def test_no_tenant_reads_nothing_and_the_last_tenant_did_not_stay(
        self, database: Database
    ) -> None:
        postgresql_only(database)
        assert await models(database, OURS) == ["tenant-lean-a"]

        assert await models(database, None) == []

    async def test_system_reads_every_tenant_and_the_bypass_does_not_stay(
        self, database: Database
    ) -> None:
        postgresql_only(database)

        assert len(await models(database, None, system=True)) == 3
        assert await models(database, THEIRS) == ["tenant-lean-b"]

    async def test_the_setting_is_transaction_local(self, database: Database) -> None:
        postgresql_only(database)
        async with database.lean_read(OURS) as read:
            (inside,) = await read.fetch(TENANT_SETTING, {})

        async with database.lean_read(None) as read:
            (after,) = await read.fetch(TENANT_SETTING, {})

        assert inside[0] == "tenant-lean-a"
        assert after[0] in ("", None)


class TestLeanRead:
    async def test_reads_with_the_statement_s_own_filter(self, database: Database) -> None:
        async with database.lean_read(OURS) as read:
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-b"})
            theirs = [row[0] for row in rows]
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
            ours = [row[0] for row in rows]

        # Under RLS the other tenant's rows stay hidden even when asked for by name.
        assert theirs == ([] if database.dialect == "postgresql" else ["tenant-lean-b"])
        assert ours == ["tenant-lean-a"]

    async def test_a_failed_statement_discards_its_connection_and_the_next_read_works(
        self, database: Database
    ) -> None:
        with pytest.raises(Exception, match="no_such_table"):
            async with database.lean_read(OURS) as read:
                await read.fetch(MISSING, {})

        async with database.lean_read(OURS) as read:
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
        assert [row[0] for row in rows] == ["tenant-lean-a"]

    async def test_an_error_of_the_caller_ends_the_read_cleanly(self, database: Database) -> None:
        with pytest.raises(LookupError):
            async with database.lean_read(OURS) as read:
                await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
                raise LookupError("the caller's own")

        async with database.lean_read(OURS) as read:
            rows = await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
        assert [row[0] for row in rows] == ["tenant-lean-a"]

    async def test_fetch_needs_the_block_and_a_read_is_single_use(self, database: Database) -> None:
        read = database.lean_read(OURS)
        with pytest.raises(RuntimeError, match="not open"):
            await read.fetch(SIGNALS_OF, {"tenant_id": "tenant-lean-a"})
        async with read:
            pass
        with pytest.raises(RuntimeError, match="single use"):
            async with read:
                pass
