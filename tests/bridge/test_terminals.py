"""``GET /api/v1/terminals``: the tenant's live ``WS /ws/ticks`` connections.

The registry on its own, then a real server process and a real WebSocket: the terminal is
listed with its key, hello symbols and stored ticks while connected, to its tenant only,
and is gone once it disconnects.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from chainflow.bridge.terminals import TerminalMeter, TerminalRegistry
from chainflow.core.auth import TIER_LIMITS, Principal, Role, Scope, Tier
from chainflow.core.ids import TenantId, UserId
from tests.e2e.test_ws_ticks import _api_key, _frames_until_ack, _login, _ticks
from tests.fixtures.processes import running_server

OWNER = "terminals-owner@example.com"
OTHER = "terminals-other@example.com"


def _principal(tenant: str, key: str) -> Principal:
    return Principal(
        UserId("u1"),
        TenantId(tenant),
        Role.TRADER,
        Tier.FREE,
        TIER_LIMITS[Tier.FREE],
        frozenset({Scope.TICKS_WRITE}),
        "api_key",
        api_key_id=key,
    )


class TestRegistry:
    def test_lists_a_tenants_open_sessions_until_they_close(self) -> None:
        registry = TerminalRegistry()
        meter = TerminalMeter()
        first = registry.open(
            _principal("t1", "k1"), "c1", connected_at_ms=1, meter=meter, symbols=lambda: ("X",)
        )
        registry.open(
            _principal("t2", "k2"), "c2", connected_at_ms=2, meter=TerminalMeter(), symbols=tuple
        )
        meter.record("t1", ticks=3, messages=1)
        (listed,) = registry.of_tenant("t1")
        assert (listed.api_key_id, listed.meter.ticks, listed.symbols()) == ("k1", 3, ("X",))
        registry.close(first)
        registry.close(first)  # closing twice is harmless
        assert registry.of_tenant("t1") == []
        assert len(registry) == 1


def _get(base: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(base + "/api/v1/terminals", headers=headers)


def _wait_for(base: str, token: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        items = _get(base, token).json()["items"]
        if len(items) == count or time.monotonic() > deadline:
            return items
        time.sleep(0.1)


async def _while_connected(base: str, key: str, token: str, other: str) -> None:
    url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"
    now_ms = int(time.time() * 1000) - 60_000
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "symbols": ["EURUSD", "GBPUSD"]}))
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps({"type": "ticks", "items": _ticks(now_ms, 5)}))
        await _frames_until_ack(ws, 5)
        listed = await asyncio.to_thread(_get, base, token)
        assert listed.status_code == 200, listed.text
        (terminal,) = listed.json()["items"]
        keys = httpx.get(
            base + "/api/v1/api-keys", headers={"Authorization": f"Bearer {token}"}
        ).json()["items"]
        assert terminal["api_key_id"] == keys[0]["id"]
        assert terminal["symbols"] == ["EURUSD", "GBPUSD"]
        assert (terminal["ticks"], terminal["messages"]) == (5, 2)
        assert abs(terminal["connected_at"] - time.time() * 1000) < 60_000
        assert (await asyncio.to_thread(_get, base, other)).json()["items"] == []


class TestTerminalsRoute:
    def test_a_connected_terminal_is_listed_to_its_tenant_until_it_disconnects(
        self, tmp_path: Path
    ) -> None:
        with running_server(tmp_path / "home") as base:
            assert _get(base, None).status_code == 401
            key = _api_key(base, OWNER, ["ticks:write"])
            token = _login(base, OWNER)
            _api_key(base, OTHER, ["read"])
            other = _login(base, OTHER)
            assert _get(base, token).json()["items"] == []

            asyncio.run(_while_connected(base, key, token, other))

            assert _wait_for(base, token, 0) == []
            spec = httpx.get(base + "/openapi.json").json()["paths"]["/api/v1/terminals"]
            assert {"200", "401", "403"} <= set(spec["get"]["responses"])
