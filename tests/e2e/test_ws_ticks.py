"""``WS /ws/ticks`` as an MT5 terminal uses it: a real server process, a real WebSocket."""

import asyncio
import json
import re
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.processes import running_server

PASSWORD = "Stream-Ticks-2026!"


def _login(base: str, email: str) -> str:
    credentials = {"email": email, "password": PASSWORD}
    return httpx.post(base + "/api/v1/auth/login", json=credentials).json()["access_token"]


def _api_key(base: str, email: str, scopes: list[str]) -> str:
    credentials = {"email": email, "password": PASSWORD}
    assert httpx.post(base + "/api/v1/auth/register", json=credentials).status_code == 201
    token = httpx.post(base + "/api/v1/auth/login", json=credentials).json()["access_token"]
    created = httpx.post(
        base + "/api/v1/api-keys",
        json={"name": "terminal", "scopes": scopes},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    return created.json()["key"]


def _ticks(start_ms: int, count: int, first_seq: int = 1) -> list[dict]:
    return [
        {
            "symbol": "eurusd",
            "ts": start_ms + i * 250,
            "bid": 1.09 + i * 1e-5,
            "ask": 1.09012 + i * 1e-5,
            "volume": 1.0,
            "seq": first_seq + i,
        }
        for i in range(count)
    ]


async def _frames_until_ack(ws, seq: int) -> list[dict]:
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        frames.append(frame)
        if frame["type"] == "ack" and frame["seq"] >= seq:
            return frames


async def _next_non_signal(ws) -> dict:
    """The next frame that is not a signal: signals of earlier ticks may still be in flight."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] != "signal":
            return frame


class TestIngestTicks:
    def test_stream_is_acked_stored_once_and_bad_ticks_get_codes(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        now_ms = int(time.time() * 1000) - 60_000
        with running_server(home) as base:
            key = _api_key(base, "terminal@example.com", ["ticks:write"])
            url = base.replace("http", "ws") + "/ws/ticks"

            async def session() -> None:
                async with connect(
                    url, additional_headers={"Authorization": f"Bearer {key}"}
                ) as ws:
                    await ws.send(json.dumps({"type": "ticks", "items": _ticks(now_ms, 10)}))
                    frames = await _frames_until_ack(ws, 10)
                    assert [f for f in frames if f["type"] == "error"] == []
                    bad = [
                        {
                            "symbol": "EURUSD",
                            "ts": now_ms + 5000,
                            "bid": 1.1,
                            "ask": 1.0,
                            "seq": 11,
                        },
                        {
                            "symbol": "EURUSD",
                            "ts": now_ms + 5001,
                            "bid": "x",
                            "ask": 1.0,
                            "seq": 12,
                        },
                        {**_ticks(now_ms, 1)[0], "seq": 13},  # a duplicate of seq 1
                    ]
                    await ws.send(json.dumps({"type": "ticks", "items": bad}))
                    frames = await _frames_until_ack(ws, 13)
                    codes = {f["seq"]: f["code"] for f in frames if f["type"] == "error"}
                    assert codes == {11: "crossed_quote", 12: "invalid_schema", 13: "duplicate"}
                    await ws.send("not json")  # a bad message keeps the connection open
                    error = await _next_non_signal(ws)
                    assert error["type"] == "error" and error["code"] == "invalid_schema"
                    await ws.send(json.dumps({"type": "tick", **_ticks(now_ms + 5000, 1, 14)[0]}))
                    assert (await _frames_until_ack(ws, 14))[-1] == {"type": "ack", "seq": 14}

            asyncio.run(session())
            bearer = {"Authorization": f"Bearer {_login(base, 'terminal@example.com')}"}
            page = httpx.get(
                base + "/api/v1/market/ticks",
                params={"symbol": "eurusd", "limit": 4},
                headers=bearer,
            ).json()
            assert [t["ts"] for t in page["items"]] == [now_ms + i * 250 for i in range(4)]
            assert page["next_start"] == now_ms + 4 * 250
            bar_page = httpx.get(
                base + "/api/v1/market/bars",
                params={"symbol": "EURUSD", "timeframe": "H1"},
                headers=bearer,
            ).json()["items"]
            assert sum(b["tick_count"] for b in bar_page) == 11
            usage = httpx.get(base + "/api/v1/market/usage", headers=bearer).json()["items"]
            assert len(usage) == 7
            assert (usage[-1]["ticks"], usage[-1]["messages"]) == (11, 4)
            metrics = httpx.get(base + "/metrics").text
            assert 'chainflow_bridge_ticks_total{outcome="stored"} 11.0' in metrics
            assert 'chainflow_bridge_ticks_total{outcome="crossed_quote"} 1.0' in metrics
            assert 'chainflow_bridge_ticks_total{outcome="duplicate"} 1.0' in metrics
            assert 'chainflow_bridge_ticks_by_tier_total{tier="free"} 11.0' in metrics
            assert 'chainflow_bus_pending_messages{kind="durable"}' in metrics
            answered = re.search(r"chainflow_tick_to_signal_seconds_count (\S+)", metrics)
            assert answered is not None and float(answered.group(1)) >= 1.0
            # the per-tick path's own counters: every accepted tick taken, none left building
            assert "chainflow_tick_path_ticks_total 11.0" in metrics
            assert "chainflow_tick_path_building 0.0" in metrics
            assert "chainflow_features_warming 0.0" in metrics
            assert bar_page[0]["open"] == 1.09
        with duckdb.connect(str(home / "timeseries.duckdb"), read_only=True) as db:
            rows = db.execute("SELECT symbol, count(*) FROM ticks GROUP BY symbol").fetchall()
            stored_bars = db.execute(
                "SELECT timeframe, sum(tick_count) FROM bars GROUP BY timeframe ORDER BY 1"
            ).fetchall()
        assert rows == [("EURUSD", 11)]
        # Open bars are persisted at shutdown: every timeframe holds all 11 ticks.
        assert {tf: int(n) for tf, n in stored_bars}["D1"] == 11

    def test_auth_failure_and_wrong_scope_close_with_4xxx(self, tmp_path: Path) -> None:
        with running_server(tmp_path / "home") as base:
            url = base.replace("http", "ws") + "/ws/ticks"
            reader_key = _api_key(base, "reader@example.com", ["signals:read"])

            async def closes_with(target: str, headers: dict[str, str]) -> int:
                async with connect(target, additional_headers=headers) as ws:
                    with pytest.raises(ConnectionClosed) as closed:
                        while True:
                            await asyncio.wait_for(ws.recv(), 10)
                    return closed.value.rcvd.code

            assert asyncio.run(closes_with(url + "?api_key=cfk_nope", {})) == 4001
            bearer = {"Authorization": f"Bearer {reader_key}"}
            assert asyncio.run(closes_with(url, bearer)) == 4003

    def test_over_the_tier_rate_ticks_get_rate_limited(self, tmp_path: Path) -> None:
        now_ms = int(time.time() * 1000) - 60_000
        with running_server(tmp_path / "home") as base:
            key = _api_key(base, "fast@example.com", ["ticks:write"])
            url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"

            async def session() -> list[dict]:
                async with connect(url) as ws:
                    # The free tier allows 20 ticks per second: 50 at once exceed it.
                    await ws.send(json.dumps({"type": "ticks", "items": _ticks(now_ms, 50)}))
                    return await _frames_until_ack(ws, 20)

            frames = asyncio.run(session())
            limited = [f for f in frames if f.get("code") == "rate_limited"]
            assert len(limited) == 1 and limited[0]["details"]["seqs"] == list(range(21, 51))
            assert frames[-1] == {"type": "ack", "seq": 20}


class TestSymbolAliases:
    def test_broker_suffixes_map_to_the_tenant_symbol_even_after_a_change(
        self, tmp_path: Path
    ) -> None:
        now_ms = int(time.time() * 1000) - 60_000
        with running_server(tmp_path / "home") as base:
            key = _api_key(base, "broker@example.com", ["ticks:write"])
            bearer = {"Authorization": f"Bearer {_login(base, 'broker@example.com')}"}
            url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"
            bad = httpx.put(
                base + "/api/v1/market/aliases",
                json={"aliases": {"EURUSD.m": "EUR USD!"}},
                headers=bearer,
            )
            assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"

            async def stream(symbol: str, first_seq: int, offset_ms: int) -> None:
                items = [{**t, "symbol": symbol} for t in _ticks(now_ms + offset_ms, 3, first_seq)]
                async with connect(url) as ws:
                    await ws.send(json.dumps({"type": "ticks", "items": items}))
                    await _frames_until_ack(ws, first_seq + 2)

            asyncio.run(stream("EURUSD.m", 1, 0))  # no alias yet: kept as EURUSD.M
            put = httpx.put(
                base + "/api/v1/market/aliases",
                json={"aliases": {"eurusd.m": "eurusd"}},
                headers=bearer,
            )
            assert put.json() == {"aliases": {"EURUSD.M": "EURUSD"}}
            assert httpx.get(base + "/api/v1/market/aliases", headers=bearer).json() == put.json()
            asyncio.run(stream("EURUSD.m", 1, 10_000))  # the open feed picks the change up

            def count(symbol: str) -> int:
                page = httpx.get(
                    base + "/api/v1/market/ticks", params={"symbol": symbol}, headers=bearer
                )
                return len(page.json()["items"])

            assert (count("EURUSD.M"), count("EURUSD")) == (3, 3)
