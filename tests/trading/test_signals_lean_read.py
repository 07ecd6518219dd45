"""``read_latest_signals`` (a lean read, what ``GET /api/v1/signals`` runs) against
``SignalRepository.latest`` (the unit of work's session), on SQLite and on PostgreSQL.

The two run the same query; these tests pin that they return the same signals for every
shape of the listing, ``reasons`` decoded alike (quotes, non-ASCII, empty), and that the
lean read of one tenant never lists another's (on PostgreSQL under RLS as well).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chainflow.core.ids import TenantId
from chainflow.core.settings import DatabaseSettings
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database, upgrade
from chainflow.trading.events import SignalIssued
from chainflow.trading.repository import SignalRepository, StoredSignal, read_latest_signals
from tests.fixtures.database import ProvisionedDatabase

TS = 1_750_000_000_000
TENANT = TenantContext(tenant_id=TenantId("tenant-lean-signals-a"))
OTHER = TenantContext(tenant_id=TenantId("tenant-lean-signals-b"))
REASONS = (["trend", 'naïve "quoted" reason'], ["€ momentum"], [])


def issued(bar: int, symbol: str, tenant: TenantContext) -> SignalIssued:
    return SignalIssued(
        symbol=symbol,
        ts=TS + bar * 60_000,
        action=("buy", "sell", "hold")[bar % 3],
        confidence=0.5 + bar / 100,
        size=0.1 * bar,
        stop_loss=None if bar % 2 else 1.07 + bar / 1000,
        take_profit=1.0934,
        model=f"{tenant.tenant_id}@{bar}",
        reasons=REASONS[bar % 3],
    )


@pytest.fixture
async def database(fresh_database: ProvisionedDatabase) -> AsyncIterator[Database]:
    await upgrade(fresh_database.url)
    database = Database(fresh_database.url, DatabaseSettings(url=fresh_database.url))
    for tenant, symbols in ((TENANT, ("EURUSD", "GBPUSD")), (OTHER, ("EURUSD",))):
        async with database.unit_of_work(tenant) as uow:
            for bar in range(1, 7):
                symbol = symbols[bar % len(symbols)]
                await SignalRepository(uow.session, tenant).record(
                    issued(bar, symbol, tenant), "M1"
                )
    try:
        yield database
    finally:
        await database.dispose()


async def both(
    database: Database, tenant: TenantContext, *, symbol: str | None, limit: int
) -> tuple[list[StoredSignal], list[StoredSignal]]:
    async with database.lean_read(tenant) as read:
        lean = await read_latest_signals(read, symbol=symbol, limit=limit)
    async with database.unit_of_work(tenant, read_only=True) as uow:
        session = await SignalRepository(uow.session, tenant).latest(symbol=symbol, limit=limit)
    return lean, session


class TestReadLatestSignals:
    @pytest.mark.parametrize(
        ("symbol", "limit"), [(None, 20), (None, 2), ("EURUSD", 20), ("GBPUSD", 1), ("USDJPY", 5)]
    )
    async def test_reads_what_the_session_reads(
        self, database: Database, symbol: str | None, limit: int
    ) -> None:
        lean, session = await both(database, TENANT, symbol=symbol, limit=limit)

        assert lean == session
        assert [[type(v) for v in s] for s in lean] == [[type(v) for v in s] for s in session]
        assert len(lean) == {None: min(limit, 6), "EURUSD": 3, "GBPUSD": 1, "USDJPY": 0}[symbol]

    async def test_reasons_decoded_alike(self, database: Database) -> None:
        lean, _ = await both(database, TENANT, symbol=None, limit=20)

        assert [s.reasons for s in lean] == [REASONS[bar % 3] for bar in range(6, 0, -1)]

    async def test_a_tenant_never_lists_another_s_signals(self, database: Database) -> None:
        ours, _ = await both(database, TENANT, symbol="EURUSD", limit=20)
        theirs, _ = await both(database, OTHER, symbol="EURUSD", limit=20)

        assert [s.model for s in ours] == [f"{TENANT.tenant_id}@{bar}" for bar in (6, 4, 2)]
        assert [s.model for s in theirs] == [f"{OTHER.tenant_id}@{bar}" for bar in range(6, 0, -1)]
