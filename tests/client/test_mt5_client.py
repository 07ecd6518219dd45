"""``chainflow.client``: the MT5 client SDK and the replayer against a real server process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chainflow.client import Mt5AuthError, Mt5Client
from chainflow.client.replay import read_mt5_ticks, replay_file
from tests.fixtures.processes import running_server

PASSWORD = "Client-Ticks-2026!"


@dataclass(frozen=True)
class Account:
    base: str
    key: str
    jwt: str

    @property
    def ws_url(self) -> str:
        return self.base.replace("http", "ws") + "/ws/ticks"


def _account(base: str, home: Path, email: str, tier: str | None) -> Account:
    credentials = {"email": email, "password": PASSWORD}
    assert httpx.post(base + "/api/v1/auth/register", json=credentials).status_code == 201
    if tier is not None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINFLOW_")}
        env["CHAINFLOW_HOME"] = str(home)
        command = [sys.executable, "-m", "chainflow", "users", "set-tier", email, tier]
        subprocess.run(command, env=env, check=True, capture_output=True)
    jwt = httpx.post(base + "/api/v1/auth/login", json=credentials).json()["access_token"]
    created = httpx.post(
        base + "/api/v1/api-keys",
        json={"name": "terminal", "scopes": ["ticks:write"]},
        headers={"Authorization": f"Bearer {jwt}"},
    )
    assert created.status_code == 201, created.text
    return Account(base, created.json()["key"], jwt)


def _stored(account: Account, symbol: str) -> list[tuple[int, float, float]]:
    """Every stored tick of ``symbol``, following ``next_start`` pages."""
    rows: list[tuple[int, float, float]] = []
    params: dict[str, object] = {"symbol": symbol, "limit": 1000}
    while True:
        page = httpx.get(
            account.base + "/api/v1/market/ticks",
            params=params,
            headers={"Authorization": f"Bearer {account.jwt}"},
        ).json()
        rows += [(t["ts"], t["bid"], t["ask"]) for t in page["items"]]
        if page["next_start"] is None:
            return rows
        params["start"] = page["next_start"]


def _ticks(count: int) -> list[tuple[int, float, float]]:
    """A calm random-walk-free stream: 1 point steps up and down, 100 ms apart, recent."""
    start = int(time.time() * 1000) - 600_000
    return [
        (start + i * 100, round(1.09 + (i % 7) * 1e-5, 5), round(1.09012 + (i % 7) * 1e-5, 5))
        for i in range(count)
    ]


async def _stream(client: Mt5Client, ticks: list[tuple[int, float, float]]) -> None:
    for ts, bid, ask in ticks:
        await client.send_tick("EURUSD", ts, bid, ask, 1.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("client") / "home"
    with running_server(home) as base:
        yield base, home


class TestMt5Client:
    def test_a_stream_is_acked_and_stored_exactly_once(self, server: tuple[str, Path]) -> None:
        account = _account(*server, "stream@example.com", "enterprise")
        ticks = _ticks(2000)

        async def session() -> Mt5Client:
            async with Mt5Client(account.ws_url, account.key, batch_size=200) as client:
                await _stream(client, ticks)
                await client.drain(30)
                return client

        client = asyncio.run(session())
        assert client.stats.settled == 2000 and client.unacked == 0
        assert client.errors == {}
        assert _stored(account, "EURUSD") == ticks

    def test_rate_limited_ticks_are_resent_until_acked(self, server: tuple[str, Path]) -> None:
        account = _account(*server, "free@example.com", None)  # 20 ticks per second
        ticks = _ticks(100)

        async def session() -> Mt5Client:
            async with Mt5Client(account.ws_url, account.key, batch_size=50) as client:
                await _stream(client, ticks)
                await client.drain(30)
                return client

        client = asyncio.run(session())
        assert client.stats.settled == 100
        assert client.errors.get("rate_limited", 0) >= 1
        assert set(client.errors) == {"rate_limited"}
        assert _stored(account, "EURUSD") == ticks

    def test_a_dropped_connection_reconnects_and_resends_without_duplicates(
        self, server: tuple[str, Path]
    ) -> None:
        account = _account(*server, "flaky@example.com", "enterprise")
        ticks = _ticks(3000)

        async def session() -> Mt5Client:
            client = Mt5Client(account.ws_url, account.key, batch_size=100, backoff_initial_s=0.05)
            await client.connect()
            await _stream(client, ticks[:1500])
            await asyncio.sleep(0.01)  # some batches in flight, some acked
            assert client.connection is not None
            client.connection.transport.abort()  # the network drops, no close frame
            await _stream(client, ticks[1500:])
            await client.drain(30)
            await client.close()
            return client

        client = asyncio.run(session())
        assert client.stats.reconnects >= 1
        assert client.stats.settled == 3000 and client.unacked == 0
        assert set(client.errors) <= {"duplicate", "rate_limited"}  # 2000 ticks/s tier
        assert _stored(account, "EURUSD") == ticks

    def test_a_bad_api_key_raises_at_once(self, server: tuple[str, Path]) -> None:
        base, _ = server
        client = Mt5Client(base.replace("http", "ws") + "/ws/ticks", "cfk_nope")
        began = time.monotonic()
        with pytest.raises(Mt5AuthError, match="invalid or revoked") as raised:
            asyncio.run(client.connect())
        assert raised.value.close_code == 4001
        assert time.monotonic() - began < 5
        assert client.stats.reconnects == 0

    def test_replay_of_an_mt5_tick_file_at_max_speed(
        self, server: tuple[str, Path], tmp_path: Path
    ) -> None:
        account = _account(*server, "replay@example.com", "enterprise")
        path = tmp_path / "EURUSD_ticks.tsv"
        rows = ["<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>"]
        for i in range(500):
            minute, second, ms = divmod(i // 5, 60)[0], (i // 5) % 60, (i % 5) * 200
            bid = f"{1.08 + (i % 5) * 1e-5:.5f}" if i % 9 else ""  # empty: carried forward
            rows.append(f"2024.03.04\t10:{minute:02d}:{second:02d}.{ms:03d}\t{bid}\t1.08020\t\t\t6")
        path.write_text("\r\n".join(rows) + "\r\n")
        parsed = list(read_mt5_ticks(path))
        assert len(parsed) == 499  # the first row has no bid yet
        assert parsed[0][1] == 1.08001 and parsed[8][1] == 1.08003  # row 9 carried forward
        progress: list[tuple[int, int, int]] = []

        summary = asyncio.run(
            replay_file(
                path,
                account.ws_url,
                account.key,
                "EURUSD",
                None,
                lambda *p: progress.append(p),
            )
        )
        assert (summary.sent, summary.acked, summary.rejected) == (499, 499, {})
        assert progress[-1] == (499, 499, 499)
        stored = _stored(account, "EURUSD")
        assert len(stored) == 499
        assert stored[-1][0] - stored[0][0] == parsed[-1][0] - parsed[0][0]  # shifted, not bent
        assert abs(stored[-1][0] - time.time() * 1000) < 60_000
