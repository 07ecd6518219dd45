"""SIGTERM drains ``chainflow serve``: WebSockets close with 1012 after their acks, new work
gets 503, nothing acked is lost, and a restarted server takes the terminal's resend once.

``TestDrainInProcess`` runs the real app under uvicorn in this process and begins the drain
the way the signal handler does, to look at the drain state deterministically;
``TestSigterm`` sends a real SIGTERM to a ``chainflow serve`` subprocess mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chainflow.client import Mt5Client
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.server import GracefulServer
from tests.fixtures.processes import free_port
from tests.fixtures.settings import embedded_settings

PASSWORD = "Sigterm-Ticks-2026!"
GRACE_S = 10.0
# The server shares this process with the test; on a loaded CI machine one login once took
# more than httpx's default 5 s (clean-clone CI, 2026-12-07). These tests look at the drain.
HTTP_TIMEOUT_S = 30.0
READ_TICKS = """
import asyncio, json, sys
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.timeseries import open_timeseries

async def main():
    store = open_timeseries(sys.argv[1], TimeSeriesSettings())
    await store.start()
    ticks = await store.scan_ticks(sys.argv[2], "EURUSD", 0, 2**62)
    await store.close()
    print(json.dumps([[t.ts, t.bid, t.ask] for t in ticks]))

asyncio.run(main())
"""


async def _api_key(client: httpx.AsyncClient, email: str) -> tuple[str, str]:
    """Register ``email``; return (its ticks:write API key, its access token)."""
    credentials = {"email": email, "password": PASSWORD}
    registered = await client.post("/api/v1/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    token = (await client.post("/api/v1/auth/login", json=credentials)).json()["access_token"]
    created = await client.post(
        "/api/v1/api-keys",
        json={"name": "terminal", "scopes": ["ticks:write"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    return created.json()["key"], token


@asynccontextmanager
async def _serving(home: Path) -> AsyncIterator[tuple[Kernel, str, GracefulServer]]:
    """The real app of an embedded kernel under uvicorn on a free loopback port."""
    kernel = Kernel(embedded_settings(home))
    await kernel.start()
    port = free_port()
    config = uvicorn.Config(
        create_app(kernel), host="127.0.0.1", port=port, log_config=None, lifespan="on"
    )
    server = GracefulServer(config, drain=kernel.drain, on_drain=kernel.withdraw)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield kernel, f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        await task
        await kernel.stop()


class TestDrainInProcess:
    async def test_the_signal_takes_the_process_out_of_the_registry_first(
        self, tmp_path: Path
    ) -> None:
        async with _serving(tmp_path / "home") as (kernel, base, server):
            registry = kernel.infra.registry
            assert [i.instance_id for i in await registry.instances()] == [kernel.instance_id]
            async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT_S) as client:
                _, token = await _api_key(client, "withdraw@example.com")
                async with connect(
                    base.replace("http", "ws") + f"/ws/stream?access_token={token}"
                ) as ws:
                    server.handle_exit(signal.SIGTERM, None)  # what the first SIGTERM does
                    # Out of the registry at the start of the drain, not after the stop.
                    deadline = time.monotonic() + 5
                    while await registry.instances() and time.monotonic() < deadline:
                        await asyncio.sleep(0.02)
                    assert await registry.instances() == []
                    assert kernel.drain.draining
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(ws.recv(), 5)
                    assert ws.close_code == 1012

    async def test_open_socket_is_answered_then_closed_and_new_work_gets_503(
        self, tmp_path: Path
    ) -> None:
        async with _serving(tmp_path / "home") as (kernel, base, _):
            async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT_S) as client:
                key, token = await _api_key(client, "drain@example.com")
                ws_url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"
                async with connect(ws_url) as ws:
                    await ws.send(json.dumps({"type": "hello", "signals": "on_change"}))
                    assert json.loads(await ws.recv())["type"] == "hello"
                    tick = {"symbol": "EURUSD", "bid": 1.09, "ask": 1.0901, "seq": 1}
                    await ws.send(
                        json.dumps({"type": "tick", "ts": int(time.time() * 1000), **tick})
                    )
                    assert json.loads(await ws.recv()) == {"type": "ack", "seq": 1}

                    kernel.drain.begin()  # what the first SIGTERM does, on the loop

                    final = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    while final["type"] == "signal":  # the tick's signal may come first
                        final = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert final["type"] == "error" and final["code"] == "shutting_down"
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(ws.recv(), 5)
                    assert ws.close_code == 1012
                    assert ws.close_reason == "shutting_down"

                refused = await client.get(
                    "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
                )
                assert refused.status_code == 503
                assert refused.headers["retry-after"] == "1"
                assert refused.json()["error"]["code"] == "shutting_down"
                assert set(refused.json()["error"]) == {"code", "message", "details"}
                assert (await client.get("/health")).status_code == 200  # still alive
                with pytest.raises(InvalidStatus) as handshake:
                    await connect(ws_url)
                assert handshake.value.response.status_code == 503
                assert await kernel.drain.wait_idle()

    async def test_a_socket_without_a_final_frame_is_closed_with_1012(self, tmp_path: Path) -> None:
        async with _serving(tmp_path / "home") as (kernel, base, _):
            async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT_S) as client:
                _, token = await _api_key(client, "stream@example.com")
            async with connect(
                base.replace("http", "ws") + f"/ws/stream?access_token={token}"
            ) as ws:
                await asyncio.sleep(0.2)  # the stream route is reading
                kernel.drain.begin()
                with pytest.raises(ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                assert ws.close_code == 1012
            assert await kernel.drain.wait_idle()


# --- a real SIGTERM to a server process ------------------------------------------------------


@dataclass(frozen=True)
class ServerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def _server(home: Path, port: int) -> Iterator[ServerProcess]:
    """``chainflow serve`` on ``port`` (the same port after a restart: the client's URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_") or k == "CI"}
    env.update(
        CHAINFLOW_HOME=str(home),
        CHAINFLOW_LOG_LEVEL="INFO",
        CHAINFLOW_SHUTDOWN_GRACE_S=str(GRACE_S),
        CHAINFLOW_HUB_HEARTBEAT_INTERVAL_S="0.5",
    )
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / f"serve-{port}-{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "chainflow", "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield ServerProcess(process, log_path)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _stop(server: ServerProcess) -> float:
    """SIGTERM the server; return the seconds until it exited (with 0)."""
    process = server.process
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=GRACE_S + 5)
    elapsed = time.monotonic() - sent
    assert process.returncode == 0, server.log_path.read_text()
    return elapsed


def _stored(home: Path, tenant: str) -> list[tuple[int, float, float]]:
    """Every stored EURUSD tick of ``tenant``, read from the store with no server running."""
    url = f"duckdb:///{home / 'timeseries.duckdb'}"
    read = subprocess.run(
        [sys.executable, "-c", READ_TICKS, url, tenant], check=True, capture_output=True, text=True
    )
    return [tuple(row) for row in json.loads(read.stdout)]


def _ticks(count: int) -> list[tuple[int, float, float]]:
    start = int(time.time() * 1000) - 900_000
    return [
        (start + i * 100, round(1.09 + (i % 7) * 1e-5, 5), round(1.09012 + (i % 7) * 1e-5, 5))
        for i in range(count)
    ]


class TestSigterm:
    def test_sigterm_mid_stream_loses_no_acked_tick_and_the_resend_is_stored_once(
        self, tmp_path: Path
    ) -> None:
        home, port = tmp_path / "home", free_port()
        ticks = _ticks(6000)
        ws_url = f"ws://127.0.0.1:{port}/ws/ticks"
        with _server(home, port) as setup:
            base = f"http://127.0.0.1:{port}"
            key, token = asyncio.run(_register(base))
            env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
            env["CHAINFLOW_HOME"] = str(home)
            command = [sys.executable, "-m", "chainflow", "users", "set-tier"]
            subprocess.run(
                [*command, "drain@example.com", "enterprise"],
                env=env,
                check=True,
                capture_output=True,
            )
            me = httpx.get(base + "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
            tenant = me.json()["tenant_id"]
            _stop(setup)

        async def stream(client: Mt5Client) -> None:
            for ts, bid, ask in ticks:
                await client.send_tick("EURUSD", ts, bid, ask, 1.0)
                if ts % 2000 == ticks[0][0] % 2000:
                    await asyncio.sleep(0.02)  # about 1,000 ticks/s

        async def session() -> dict[str, object]:
            client = Mt5Client(
                ws_url, key, batch_size=100, backoff_initial_s=0.1, backoff_max_s=0.5
            )
            first = _server(home, port)
            server = first.__enter__()
            await client.connect()
            streaming = asyncio.create_task(stream(client))
            while client.stats.settled < 1500:
                await asyncio.sleep(0.01)
            ws = client.connection
            assert ws is not None
            stop = asyncio.create_task(asyncio.to_thread(_stop, server))
            while client.connection is ws:  # its reader has handled every frame before the close
                await asyncio.sleep(0.005)
            acked = client.stats.settled  # acks are contiguous: the first ``acked`` ticks
            exit_s = await stop
            first.__exit__(None, None, None)
            stored_after_stop = _stored(home, tenant)
            with _server(home, port) as restarted:
                await streaming
                await client.drain(60)
                await client.close()
                second_exit_s = await asyncio.to_thread(_stop, restarted)
            return {
                "close_code": ws.close_code,
                "acked": acked,
                "exit_s": exit_s,
                "second_exit_s": second_exit_s,
                "stored_after_stop": stored_after_stop,
                "client": client,
                "log": server.log_path.read_text(),
            }

        outcome = asyncio.run(session())
        client = outcome["client"]
        assert isinstance(client, Mt5Client)
        assert outcome["close_code"] == 1012
        assert client.errors.get("shutting_down") == 1
        acked = ticks[: int(outcome["acked"])]  # type: ignore[call-overload]
        stored_after_stop = outcome["stored_after_stop"]
        assert isinstance(stored_after_stop, list)
        assert set(acked) <= set(stored_after_stop)  # every acked tick survived the stop
        assert len(stored_after_stop) == len(set(stored_after_stop))
        if "rate_limited" not in client.errors:  # no gap held the contiguous ack back
            assert sorted(stored_after_stop) == acked  # the drain acked all it stored
        assert float(outcome["exit_s"]) < GRACE_S  # type: ignore[arg-type]
        assert "shutdown_drained" in str(outcome["log"])
        assert client.stats.reconnects >= 1 and client.unacked == 0
        assert set(client.errors) <= {"shutting_down", "duplicate", "rate_limited"}
        assert _stored(home, tenant) == ticks  # the resend added each missing tick once
        print(  # noqa: T201 - the measured drain, for the report
            f"\nacked before close: {outcome['acked']}, stored: {len(stored_after_stop)}, "
            f"exit after SIGTERM: {outcome['exit_s']:.2f} s mid-stream, "
            f"{outcome['second_exit_s']:.2f} s idle"
        )
        for line in str(outcome["log"]).splitlines():
            if "shutdown_" in line:
                print(line)  # noqa: T201


async def _register(base: str) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT_S) as client:
        return await _api_key(client, "drain@example.com")
