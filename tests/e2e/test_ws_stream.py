"""``WS /ws/stream``: a browser sees its tenant's ticks and bars for the symbols it chose."""

import asyncio
import json
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.test_ws_ticks import _api_key, _frames_until_ack, _login, _ticks
from tests.fixtures.processes import running_server


async def _next(ws, kind: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] == kind:
            return frame


class TestStream:
    def test_subscribed_symbols_only_and_no_other_tenant(self, tmp_path: Path) -> None:
        now_ms = int(time.time() * 1000) - 60_000
        with running_server(tmp_path / "home") as base:
            key = _api_key(base, "feed@example.com", ["ticks:write"])
            _api_key(base, "other@example.com", ["ticks:write"])
            ws_base = base.replace("http", "ws")
            own_jwt = _login(base, "feed@example.com")
            other_jwt = _login(base, "other@example.com")

            async def scenario() -> None:
                async with (
                    connect(f"{ws_base}/ws/stream?access_token={own_jwt}") as browser,
                    connect(f"{ws_base}/ws/stream?access_token={other_jwt}") as stranger,
                    connect(f"{ws_base}/ws/ticks?api_key={key}") as terminal,
                ):
                    await browser.send(json.dumps({"type": "subscribe", "symbols": ["eurusd"]}))
                    assert (await _next(browser, "subscribed"))["symbols"] == ["EURUSD"]
                    await stranger.send(json.dumps({"type": "subscribe", "symbols": ["EURUSD"]}))
                    await _next(stranger, "subscribed")
                    gbp = [
                        {**t, "symbol": "GBPUSD", "bid": 1.27, "ask": 1.27015}
                        for t in _ticks(now_ms, 3, 1)
                    ]
                    await terminal.send(json.dumps({"type": "ticks", "items": gbp}))
                    await _frames_until_ack(terminal, 3)
                    await terminal.send(
                        json.dumps({"type": "ticks", "items": _ticks(now_ms, 3, 4)})
                    )
                    await _frames_until_ack(terminal, 6)
                    frame = await _next(browser, "ticks")
                    assert frame["symbol"] == "EURUSD"
                    assert [t["ts"] for t in frame["ticks"]] == [now_ms, now_ms + 250, now_ms + 500]
                    with pytest.raises(TimeoutError):  # another tenant's feed never arrives
                        await asyncio.wait_for(stranger.recv(), 1.0)

            asyncio.run(scenario())

    def test_bad_token_closes_4001_and_bad_message_keeps_it_open(self, tmp_path: Path) -> None:
        with running_server(tmp_path / "home") as base:
            _api_key(base, "viewer@example.com", ["read"])
            ws_base = base.replace("http", "ws")
            jwt = _login(base, "viewer@example.com")

            async def scenario() -> int:
                async with connect(f"{ws_base}/ws/stream?access_token={jwt}") as ws:
                    await ws.send("nonsense")
                    assert (await _next(ws, "error"))["code"] == "invalid_schema"
                    await ws.send(json.dumps({"type": "subscribe", "symbols": ["EUR USD!"]}))
                    assert (await _next(ws, "error"))["code"] == "invalid_symbol"
                    # Once a KeyError and a RecursionError: the connection dropped (1006).
                    await ws.send(b"\x00\xff")
                    assert (await _next(ws, "error"))["code"] == "invalid_schema"
                    await ws.send('{"type":"subscribe","symbols":' + "[" * 5000 + "]" * 5000 + "}")
                    assert (await _next(ws, "error"))["code"] == "invalid_schema"
                    await ws.send(json.dumps({"type": "subscribe", "symbols": ["eurusd"]}))
                    assert (await _next(ws, "subscribed"))["symbols"] == ["EURUSD"]
                async with connect(f"{ws_base}/ws/stream?access_token=nope") as ws:
                    with pytest.raises(ConnectionClosed) as closed:
                        while True:
                            await asyncio.wait_for(ws.recv(), 10)
                    return closed.value.rcvd.code

            assert asyncio.run(scenario()) == 4001
