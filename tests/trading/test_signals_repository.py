"""``SignalRepository.latest`` on SQLite and on PostgreSQL (row-level security applies).

The read takes the unit of work's connection and decodes ``reasons`` from the stored JSON
text itself. These tests pin that it returns what was stored, on both backends: a signal
recorded is read at once by the next unit of work, newest first, and a tenant never reads
another tenant's signals (on PostgreSQL the role is neither superuser nor BYPASSRLS).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chainflow.core.ids import TenantId
from chainflow.core.settings import DatabaseSettings
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database, upgrade
from chainflow.trading.events import SignalIssued
from chainflow.trading.repository import SignalRepository, StoredSignal
from tests.fixtures.database import ProvisionedDatabase

TS = 1_750_000_000_000
TENANT = TenantContext(tenant_id=TenantId("tenant-signals-a"))
OTHER = TenantContext(tenant_id=TenantId("tenant-signals-b"))


def issued(bar: int, *, symbol: str = "EURUSD", reasons: tuple[str, ...] = ()) -> SignalIssued:
    return SignalIssued(
        symbol=symbol,
        ts=TS + bar * 60_000,
        action="sell",
        confidence=0.75,
        size=0.2,
        stop_loss=None,
        take_profit=1.0934,
        model="fx-default@1",
        reasons=list(reasons) or ["trend", 'naïve "quoted" reason'],
    )


@pytest.fixture
async def database(fresh_database: ProvisionedDatabase) -> AsyncIterator[Database]:
    await upgrade(fresh_database.url)
    database = Database(fresh_database.url, DatabaseSettings(url=fresh_database.url))
    try:
        yield database
    finally:
        await database.dispose()


async def record(database: Database, tenant: TenantContext, *signals: SignalIssued) -> None:
    async with database.unit_of_work(tenant) as uow:
        for signal in signals:
            await SignalRepository(uow.session, tenant).record(signal, "M1")


async def latest(
    database: Database, tenant: TenantContext, *, symbol: str | None = None, limit: int = 20
) -> list[StoredSignal]:
    async with database.unit_of_work(tenant, read_only=True) as uow:
        return await SignalRepository(uow.session, tenant).latest(symbol=symbol, limit=limit)


class TestLatest:
    async def test_returns_the_stored_fields_with_reasons_decoded(self, database: Database) -> None:
        stored = issued(1)
        await record(database, TENANT, stored)

        (read,) = await latest(database, TENANT)

        assert read == StoredSignal(
            symbol="EURUSD",
            ts=stored.ts,
            action="sell",
            confidence=0.75,
            size=0.2,
            stop_loss=None,
            take_profit=1.0934,
            model="fx-default@1",
            reasons=["trend", 'naïve "quoted" reason'],
        )

    async def test_a_signal_recorded_is_the_next_read_s_newest(self, database: Database) -> None:
        await record(database, TENANT, issued(1, reasons=("first",)))
        assert [s.reasons for s in await latest(database, TENANT)] == [["first"]]

        await record(database, TENANT, issued(2, reasons=("second",)))

        assert [s.reasons for s in await latest(database, TENANT)] == [["second"], ["first"]]

    async def test_symbol_and_limit(self, database: Database) -> None:
        await record(
            database,
            TENANT,
            issued(1, symbol="EURUSD"),
            issued(2, symbol="GBPUSD"),
            issued(3, symbol="EURUSD"),
        )

        newest = await latest(database, TENANT, symbol="EURUSD", limit=1)

        assert [(s.symbol, s.ts) for s in newest] == [("EURUSD", TS + 3 * 60_000)]

    async def test_a_tenant_never_reads_another_tenant_s_signals(self, database: Database) -> None:
        await record(database, OTHER, issued(1, reasons=("theirs",)))
        await record(database, TENANT, issued(2, reasons=("ours",)))

        assert [s.reasons for s in await latest(database, TENANT)] == [["ours"]]
        assert [s.reasons for s in await latest(database, OTHER)] == [["theirs"]]
