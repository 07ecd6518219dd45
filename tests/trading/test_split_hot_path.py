"""The hot path split over two ``chainflow serve`` processes on PostgreSQL, Redis and NATS.

Process A runs the bridge (``WS /ws/ticks``) with the users service, process B the trading
service alone. A terminal's ticks go into A, are published on
``bridge.ticks.p<k>.<tenant>.<symbol>``, answered by B (the owner of every partition, being
the only trading replica) on ``trading.connection.<tenant>.<connection>``, and forwarded
by A on the terminal's WebSocket: one ``signal`` frame per tick (``every_tick``) with its
``seq``, in order. No model is promoted, so each signal is a ``hold`` giving the reason.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.e2e.test_scaled import _run_cli
from tests.fixtures.backends import (
    delete_nats_stream,
    delete_redis_keys,
    require_backend,
    unique_name,
)
from tests.fixtures.database import create_postgresql_database, drop_postgresql_database
from tests.fixtures.processes import running_server

pytestmark = [pytest.mark.nats, pytest.mark.redis, pytest.mark.postgres]

PASSWORD = "Two-Process-Ticks-77!"
TICKS = 40


@pytest.fixture
def split_env() -> Iterator[dict[str, str]]:
    admin = require_backend("postgres")
    redis_url = require_backend("redis")
    nats_url = require_backend("nats")
    database = asyncio.run(create_postgresql_database(admin))
    name = unique_name("split")
    env = {
        "CHAINFLOW_DATABASE_URL": database.url,
        "CHAINFLOW_TIMESERIES_URL": database.url,
        "CHAINFLOW_CACHE_URL": redis_url,
        "CHAINFLOW_CACHE_KEY_PREFIX": f"{name}:",
        "CHAINFLOW_BUS_URL": nats_url,
        "CHAINFLOW_BUS_STREAM": name.upper(),
        "CHAINFLOW_BUS_SUBJECT_PREFIX": name,
    }
    try:
        yield env
    finally:
        asyncio.run(delete_nats_stream(nats_url, name.upper()))
        asyncio.run(delete_redis_keys(redis_url, f"{name}:*"))
        asyncio.run(drop_postgresql_database(admin, database))


def api_key(base: str) -> str:
    credentials = {"email": "terminal@example.com", "password": PASSWORD}
    registered = httpx.post(base + "/api/v1/auth/register", json=credentials, timeout=10)
    assert registered.status_code == 201, registered.text
    token = httpx.post(base + "/api/v1/auth/login", json=credentials).json()["access_token"]
    created = httpx.post(
        base + "/api/v1/api-keys",
        json={"name": "terminal", "scopes": ["ticks:write"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def tick(start_ms: int, seq: int) -> dict[str, Any]:
    bid = 1.09 + seq * 1e-5
    return {
        "type": "tick",
        "symbol": "EURUSD",
        "ts": start_ms + seq * 250,
        "bid": bid,
        "ask": round(bid + 0.00012, 6),
        "volume": 1.0,
        "seq": seq,
    }


async def signals_of_ticks(ws: ClientConnection, start_ms: int) -> list[dict[str, Any]]:
    """Send ``TICKS`` ticks one by one; return the signal frames, once all came."""
    signals: list[dict[str, Any]] = []
    for seq in range(1, TICKS + 1):
        await ws.send(json.dumps(tick(start_ms, seq)))
        await asyncio.sleep(0.06)  # inside the free tier's 20 ticks per second
    deadline = time.monotonic() + 20
    while len(signals) < TICKS and time.monotonic() < deadline:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if frame["type"] == "signal":
            signals.append(frame)
    return signals


class TestHotPathAcrossProcesses:
    def test_bridge_process_forwards_signals_of_the_trading_process(
        self, tmp_path: Path, split_env: dict[str, str]
    ) -> None:
        _run_cli(split_env, "db", "upgrade")
        with (
            running_server(
                tmp_path / "bridge", split_env, ("--services", "hub,storage,users,bridge")
            ) as bridge_url,
            running_server(tmp_path / "trading", split_env, ("--services", "trading")),
        ):
            key = api_key(bridge_url)
            url = bridge_url.replace("http", "ws") + f"/ws/ticks?api_key={key}"
            start_ms = int(time.time() * 1000) - 60_000

            async def session() -> list[dict[str, Any]]:
                async with connect(url) as ws:
                    await ws.send(json.dumps({"type": "hello", "signals": "every_tick"}))
                    return await signals_of_ticks(ws, start_ms)

            signals = asyncio.run(session())
        assert [s["seq"] for s in signals] == list(range(1, TICKS + 1))
        assert {s["action"] for s in signals} == {"hold"}
        assert all(s["symbol"] == "EURUSD" and s["reasons"] for s in signals)
