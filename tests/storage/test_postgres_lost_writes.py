"""A write whose connection is lost mid-way is settled before the store is used again.

The PostgreSQL time-series store cannot know whether such a write committed: its server
session may still commit it after the client is gone, and a resend checked against the
stored rows before that would be stored twice. Reproduced here without races: another
session holds a lock that blocks the write (not reads) on the server, the network to
PostgreSQL is cut (a loopback proxy), and the write's server session is still waiting —
with its whole statement — when the next read comes. The store must end that session
before the read, so that the lost write can never commit behind the resend's back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.ids import TenantId
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import ColumnSpec, ColumnType, TableSpec, TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries
from tests.fixtures.backends import require_backend, unique_name
from tests.fixtures.database import (
    ProvisionedDatabase,
    create_postgresql_database,
    drop_postgresql_database,
)
from tests.fixtures.scaled import TcpProxy

BASE_TS = 1_700_000_000_000
SYMBOL = "EURUSD"
SPEC = TableSpec(
    "revisions",
    (ColumnSpec("kind", ColumnType.STRING), ColumnSpec("value", ColumnType.FLOAT64)),
    replace_key=("kind",),
)


@pytest.fixture
async def database() -> AsyncIterator[ProvisionedDatabase]:
    admin_url = require_backend("postgres")
    provisioned = await create_postgresql_database(admin_url)
    try:
        yield provisioned
    finally:
        await drop_postgresql_database(admin_url, provisioned)


def through(proxy: TcpProxy, url: str) -> str:
    """Return ``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def row(tenant: TenantId, kind: str, value: float) -> dict[str, object]:
    return {"tenant_id": tenant, "symbol": SYMBOL, "ts": BASE_TS, "kind": kind, "value": value}


async def live_sessions(connection: asyncpg.Connection, pids: list[int]) -> int:
    count = await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
    )
    return int(count)


async def write_pids(connection: asyncpg.Connection, table: str) -> list[int]:
    """The sessions waiting for a lock on ``table`` (the write, held by the locker)."""
    rows = await connection.fetch(
        "SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE NOT l.granted AND c.relname = $1 AND l.pid <> pg_backend_pid()",
        table,
    )
    return [int(r["pid"]) for r in rows]


async def test_a_write_cut_off_mid_way_never_commits_behind_the_next_read(
    database: ProvisionedDatabase,
) -> None:
    upstream = urlsplit(database.url)
    proxy = TcpProxy((upstream.hostname or "127.0.0.1", upstream.port or 5432))
    store: TimeSeriesStore = open_timeseries(
        through(proxy, f"{database.url}?schema=timeseries"),
        TimeSeriesSettings(batch_max_rows=100, batch_max_delay_ms=1.0),
    )
    await store.start()
    tenant = TenantId(unique_name("tenant"))
    plain_url = database.url.replace("postgresql+asyncpg://", "postgresql://")
    locker = await asyncpg.connect(plain_url)
    # Outside any transaction: a session's view of pg_stat_activity is fixed for the
    # duration of its transaction, and the locker's lasts the whole test.
    observer = await asyncpg.connect(plain_url)
    try:
        await store.ensure_table(SPEC)
        await store.append(SPEC.name, [row(tenant, "a", 1.0)])
        # SHARE mode blocks writes to the table, never reads: the write waits on the server.
        locker_tx = locker.transaction()
        await locker_tx.start()
        await locker.execute(f"LOCK TABLE timeseries.{SPEC.name} IN SHARE MODE")
        write = asyncio.create_task(store.append(SPEC.name, [row(tenant, "a", 2.0)]))
        deadline = time.monotonic() + 10
        while not (waiting := await write_pids(observer, SPEC.name)):
            assert time.monotonic() < deadline, "the write never reached the server"
            await asyncio.sleep(0.02)
        assert proxy.drop() >= 1  # the network to PostgreSQL is cut
        with pytest.raises(DependencyUnavailable):
            await write
        assert await live_sessions(observer, waiting) == 1  # still waiting, statement and all

        # The next use of the store (here a read) first ends the lost write's session.
        rows = await store.scan(
            SPEC.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=2**62
        )
        assert [r["value"] for r in rows] == [1.0]
        assert await live_sessions(observer, waiting) == 0

        await locker_tx.commit()  # the lock released: a session still waiting would commit
        await asyncio.sleep(0.2)
        rows = await store.scan(
            SPEC.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=2**62
        )
        assert [r["value"] for r in rows] == [1.0]  # the lost write never committed
        await store.append(SPEC.name, [row(tenant, "a", 2.0)])  # its resend does, once
        rows = await store.scan(
            SPEC.name, tenant_id=tenant, symbol=SYMBOL, start_ms=0, end_ms=2**62
        )
        assert [r["value"] for r in rows] == [2.0]
    finally:
        await observer.close()
        await locker.close()
        await store.close()
