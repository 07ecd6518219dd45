"""Acked ticks survive a killed server; resends after a reconnect are stored once."""

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from tests.e2e.test_ws_ticks import _api_key, _frames_until_ack, _login, _ticks
from tests.fixtures.processes import running_server, server_process


def _stored_ticks(base: str, email: str, start_ms: int) -> list[int]:
    bearer = {"Authorization": f"Bearer {_login(base, email)}"}
    stamps: list[int] = []
    cursor: int | None = start_ms
    while cursor is not None:
        page = httpx.get(
            base + "/api/v1/market/ticks",
            params={"symbol": "EURUSD", "start": cursor, "limit": 5000},
            headers=bearer,
        ).json()
        stamps += [t["ts"] for t in page["items"]]
        cursor = page["next_start"]
    return stamps


class TestDurability:
    def test_killed_server_loses_no_acked_tick(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        start_ms = int(time.time() * 1000) - 120_000
        with server_process(home) as (base, process):
            key = _api_key(base, "durable@example.com", ["ticks:write"])
            url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"

            async def stream() -> int:
                acked = 0
                async with connect(url) as ws:
                    for batch in range(4):  # 4 x 5 ticks: inside the free tier's 20/s
                        items = _ticks(start_ms + batch * 10_000, 5, batch * 5 + 1)
                        await ws.send(json.dumps({"type": "ticks", "items": items}))
                        frames = await _frames_until_ack(ws, batch * 5 + 5)
                        acked = frames[-1]["seq"]
                    process.send_signal(signal.SIGKILL)  # no shutdown at all
                return acked

            acked = asyncio.run(stream())
            process.wait(timeout=10)
        assert acked == 20
        with running_server(home) as base:
            assert len(_stored_ticks(base, "durable@example.com", start_ms)) == 20

    def test_resend_after_reconnect_is_stored_once(self, tmp_path: Path) -> None:
        start_ms = int(time.time() * 1000) - 120_000
        with running_server(tmp_path / "home") as base:
            key = _api_key(base, "resend@example.com", ["ticks:write"])
            url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"
            items = _ticks(start_ms, 15)

            async def send_once() -> list[dict]:
                async with connect(url) as ws:
                    await ws.send(json.dumps({"type": "ticks", "items": items}))
                    return await _frames_until_ack(ws, 15)

            first = asyncio.run(send_once())
            assert first[-1] == {"type": "ack", "seq": 15}
            time.sleep(1.1)  # let the tier's ticks/s bucket refill
            again = asyncio.run(send_once())  # the same ticks, as a client resends after reconnect
            assert again[-1] == {"type": "ack", "seq": 15}
            assert {f["code"] for f in again if f["type"] == "error"} == {"duplicate"}
            assert len(_stored_ticks(base, "resend@example.com", start_ms)) == 15
