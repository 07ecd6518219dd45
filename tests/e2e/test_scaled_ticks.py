"""Tick to signal in the scaled form: one process, the layers in three processes, and two
replicas each of the bridge and the stateful services (issue 24's end-to-end test).

Every topology runs on PostgreSQL (relational and time series), Redis and NATS. Two
tenants' MT5 terminals connect (to different bridge replicas when there are two), say
``every_tick``, and stream ticks inside the free tier's rate. Each tick must be acked and
answered by exactly one ``signal`` frame carrying its ``seq``, in order, on its own
connection, whichever process scored it. No model is promoted: every signal is a ``hold``
that says why. The stored ticks are each tenant's ticks, once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.fixtures.processes import running_server
from tests.fixtures.scaled import run_cli, scaled_environment, terminal_key

pytestmark = [pytest.mark.nats, pytest.mark.redis, pytest.mark.postgres]

PASSWORD = "Scaled-Terminal-2026!"
TICKS = 30
SYMBOLS = ("EURUSD", "USDJPY")

# name -> the ``--services`` of each process; the first one also serves registration.
TOPOLOGIES: dict[str, tuple[str, ...]] = {
    "one process": ("all",),
    "layers in three processes": (
        "gateway,hub,storage,users,notify,analytics",
        "bridge,features,ml",
        "trading,risk,backtest",
    ),
    "two replicas each": (
        "gateway,hub,storage,users",
        "bridge,features,ml",
        "bridge,features,ml",
        "trading",
        "trading",
    ),
}


@pytest.fixture
def scaled_env() -> Iterator[dict[str, str]]:
    with scaled_environment("ticks") as env:
        yield env


def tick(symbol: str, start_ms: int, seq: int) -> dict[str, Any]:
    bid = (1.09 if symbol == "EURUSD" else 151.2) + seq * 1e-4
    return {
        "type": "tick",
        "symbol": symbol,
        "ts": start_ms + seq * 250,
        "bid": round(bid, 5),
        "ask": round(bid + 0.00012, 5),
        "volume": 1.0,
        "seq": seq,
    }


async def terminal(url: str, symbol: str, start_ms: int) -> dict[str, list[int]]:
    """Stream ``TICKS`` ticks of ``symbol`` (about 16 a second); return the seqs acked and
    the seqs of the signal frames, once every tick is answered (or 30 s passed)."""
    acked: list[int] = []
    signals: list[int] = []
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "signals": "every_tick", "symbols": [symbol]}))

        async def send() -> None:
            for seq in range(1, TICKS + 1):
                await ws.send(json.dumps(tick(symbol, start_ms, seq)))
                await asyncio.sleep(0.06)  # inside the free tier's 20 ticks per second

        sender = asyncio.create_task(send())
        deadline = time.monotonic() + 30
        while (len(signals) < TICKS or not acked or acked[-1] < TICKS) and (
            time.monotonic() < deadline
        ):
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            except TimeoutError:
                continue
            assert frame["type"] != "error", frame
            if frame["type"] == "ack":
                acked.append(frame["seq"])
            elif frame["type"] == "signal":
                assert frame["symbol"] == symbol and frame["action"] == "hold", frame
                assert frame["reasons"], frame
                signals.append(frame["seq"])
        await sender
        await asyncio.sleep(0.5)  # a duplicate would arrive now
        while True:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
            except TimeoutError:
                break
            if frame["type"] == "signal":
                signals.append(frame["seq"])
    return {"acked": acked, "signals": signals}


def wait_for_instances(base: str, service: str, count: int) -> None:
    """Wait until the hub's registry lists ``count`` live instances running ``service``,
    then a few heartbeats more for the replicas to settle their partitions."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = httpx.get(base + "/api/v1/hub/services", timeout=10).json()["items"]
        if sum(service in item["services"] for item in items) >= count:
            time.sleep(3.0)
            return
        time.sleep(0.3)
    raise AssertionError(f"expected {count} live {service} instances")


@pytest.mark.parametrize("topology", list(TOPOLOGIES))
def test_every_tick_answered_once_on_its_connection(
    tmp_path: Path, scaled_env: dict[str, str], topology: str
) -> None:
    run_cli(scaled_env, "db", "upgrade")
    layout = TOPOLOGIES[topology]
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                running_server(tmp_path / f"p{i}", scaled_env, ("--services", services))
            )
            for i, services in enumerate(layout)
        ]
        front = urls[0]
        bridges = [u for u, s in zip(urls, layout, strict=True) if "bridge" in s or s == "all"]
        traders = sum("trading" in s or s == "all" for s in layout)
        wait_for_instances(front, "trading", traders)
        start_ms = int(time.time() * 1000) - 120_000

        async def run() -> list[dict[str, list[int]]]:
            sessions = []
            for i, symbol in enumerate(SYMBOLS):
                key = terminal_key(front, f"trader{i}@example.com", PASSWORD)
                bridge = bridges[i % len(bridges)]
                url = bridge.replace("http", "ws") + f"/ws/ticks?api_key={key}"
                sessions.append(terminal(url, symbol, start_ms))
            return await asyncio.gather(*sessions)

        results = asyncio.run(run())
    for symbol, result in zip(SYMBOLS, results, strict=True):
        assert result["acked"] and result["acked"][-1] == TICKS, (symbol, result["acked"])
        assert result["signals"] == list(range(1, TICKS + 1)), (symbol, result["signals"])
