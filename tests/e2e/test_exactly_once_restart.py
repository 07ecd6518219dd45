"""A server killed with SIGKILL mid-stream, then sent the client's whole window again.

docs/mt5-protocol.md §8 promises that a resend never stores a tick twice. The client here
pipelines 6,000 ticks, the server is killed (no shutdown at all) while acks are still
arriving, and after the restart the client resends every tick, as a client that lost its
acks would. The stored ticks and the persisted bars (tick count and volume per bar) must be
exactly those of the 6,000 distinct ticks, on the embedded DuckDB store and on ClickHouse's
SQL through chDB.
"""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.e2e.test_ws_ticks import PASSWORD, _api_key
from tests.fixtures.processes import running_server, server_process

COUNT = 6000
BATCH = 500
EMAIL = "restart@example.com"

READ_BARS = """
import asyncio, json, sys
from chainflow.bridge.bar_table import read_bars
from chainflow.core.market import Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.timeseries import open_timeseries

async def main():
    store = open_timeseries(sys.argv[1], TimeSeriesSettings())
    await store.start()
    tenant = sys.argv[2]
    out = {}
    for timeframe in (Timeframe.M1, Timeframe.M5, Timeframe.H1):
        bars = await read_bars(store, tenant, "EURUSD", timeframe, end_ms=2**62, count=10_000)
        out[timeframe.value] = [[b.ts, b.volume, b.tick_count] for b in bars]
    ticks = await store.scan_ticks(tenant, "EURUSD", 0, 2**62)
    out["ticks"] = len(ticks)
    out["distinct"] = len({(t.ts, t.bid, t.ask) for t in ticks})
    await store.close()
    print(json.dumps(out))

asyncio.run(main())
"""


def _ticks(start_ms: int) -> list[dict]:
    rng = random.Random(3)
    bid, items = 1.09, []
    for i in range(COUNT):
        bid = round(bid + rng.choice((-1, 0, 1)) * 1e-5, 5)
        items.append(
            {
                "symbol": "EURUSD",
                "ts": start_ms + i * 250,
                "bid": bid,
                "ask": round(bid + 1.2e-4, 5),
                "volume": float(1 + i % 4),
            }
        )
    return items


def _expected(items: list[dict], width_ms: int) -> list[list[float]]:
    buckets: dict[int, list[float]] = {}
    for item in items:
        bucket = item["ts"] - item["ts"] % width_ms
        volume, count = buckets.get(bucket, [0.0, 0])
        buckets[bucket] = [volume + item["volume"], count + 1]
    return [[ts, volume, count] for ts, (volume, count) in sorted(buckets.items())]


async def _send_all(url: str, items: list[dict], kill: subprocess.Popen | None = None) -> int:
    """Stream ``items`` in paced batches without waiting for acks; return the last ack.

    With ``kill``, the server is sent SIGKILL as soon as half of the ticks are acked, while
    later batches are still in flight (stored but not acked, or not stored at all).
    """
    acked = 0

    async def send(ws) -> None:
        for start in range(0, len(items), BATCH):
            batch = [
                {**t, "seq": start + i + 1} for i, t in enumerate(items[start : start + BATCH])
            ]
            await ws.send(json.dumps({"type": "ticks", "items": batch}))
            await asyncio.sleep(0.3)  # about 1,700 ticks/s: inside the tier's 2,000

    async def receive(ws) -> None:
        nonlocal acked
        while acked < len(items):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert frame.get("code") != "rate_limited", frame
            if frame["type"] == "ack":
                acked = frame["seq"]
                if kill is not None and acked >= len(items) // 2:
                    kill.send_signal(signal.SIGKILL)
                    kill.wait(timeout=10)
                    return

    async with connect(url, max_size=None) as ws:
        sender = asyncio.create_task(send(ws))
        await receive(ws)
        if kill is None:
            await sender
        else:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    return acked


def _tenant_of(base: str) -> str:
    token = httpx.post(
        base + "/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}
    ).json()["access_token"]
    me = httpx.get(base + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    return me.json()["tenant_id"]


@pytest.mark.parametrize("backend", ["duckdb", "chdb"])
def test_resend_after_kill_stores_each_tick_once(tmp_path: Path, backend: str) -> None:
    home = tmp_path / "home"
    env = {}
    url = f"duckdb:///{home / 'timeseries.duckdb'}"
    if backend == "chdb":
        url = f"chdb://{tmp_path / 'chdb'}"
    env["CHAINFLOW_TIMESERIES_URL"] = url
    items = _ticks(int(time.time() * 1000) - COUNT * 250 - 60_000)
    with running_server(home, env) as base:
        key = _api_key(base, EMAIL, ["ticks:write"])
    cli_env = {**os.environ, "CHAINFLOW_HOME": str(home), **env}
    subprocess.run(
        [sys.executable, "-m", "chainflow", "users", "set-tier", EMAIL, "enterprise"],
        env=cli_env,
        check=True,
        capture_output=True,
    )

    with server_process(home, env) as (base, process):
        ws_url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"
        acked_before_kill = asyncio.run(_send_all(ws_url, items, kill=process))
    assert acked_before_kill >= COUNT // 2

    with running_server(home, env) as base:
        ws_url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"
        assert asyncio.run(_send_all(ws_url, items)) == COUNT  # the whole window again
        tenant = _tenant_of(base)
    # Stopped cleanly: the open bars are persisted too.

    read = subprocess.run(
        [sys.executable, "-c", READ_BARS, url, tenant],
        env=cli_env,
        check=True,
        capture_output=True,
        text=True,
    )
    stored = json.loads(read.stdout)
    assert stored["ticks"] == stored["distinct"] == COUNT
    for timeframe, width in (("M1", 60_000), ("M5", 300_000), ("H1", 3_600_000)):
        assert stored[timeframe] == _expected(items, width), timeframe
