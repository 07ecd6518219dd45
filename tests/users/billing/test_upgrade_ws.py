"""Done-when of issue 18: checkout -> settlement -> the tenant's next ``WS /ws/ticks`` batch
is admitted at the new tier's ticks per second. A real server process, a real WebSocket,
and the Midtrans look-alike on loopback as the payment gateway."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from chainflow.core.auth import TIER_LIMITS, Tier
from tests.e2e.test_ws_ticks import _api_key, _frames_until_ack, _login, _ticks
from tests.fixtures.processes import running_server
from tests.users.billing.conftest import SERVER_KEY
from tests.users.billing.midtrans_peer import MidtransPeer, running_midtrans_peer

BATCH = 50  # above the free tier's 20 ticks/s, within pro's 200
EMAIL = "upgrade-ws@example.com"


async def send_batch(url: str, start_ms: int, first_seq: int, ack_seq: int) -> list[dict[str, Any]]:
    """Send one batch on a new connection; return the frames up to the ack of ``ack_seq``."""
    async with connect(url) as ws:
        items = _ticks(start_ms, BATCH, first_seq)
        await ws.send(json.dumps({"type": "ticks", "items": items}))
        return await _frames_until_ack(ws, ack_seq)


async def pay(peer: MidtransPeer, base: str, token: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        checkout = await client.post(
            "/api/v1/billing/checkout",
            json={"plan": "pro", "period": "monthly"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert checkout.status_code == 201, checkout.text
        order_id = str(checkout.json()["order_id"])
        notified = await peer.deliver(client, order_id, "settlement")
        assert notified.json()["status"] == "paid", notified.text
        return order_id


def admitted(frames: list[dict[str, Any]]) -> int:
    limited = [f for f in frames if f.get("code") == "rate_limited"]
    return BATCH - sum(len(f["details"]["seqs"]) for f in limited)


class TestUpgradeReachesTheTickPath:
    def test_the_next_batch_after_settlement_is_admitted_at_the_pro_rate(
        self, tmp_path: Path
    ) -> None:
        assert TIER_LIMITS[Tier.FREE].ticks_per_second < BATCH
        assert TIER_LIMITS[Tier.PRO].ticks_per_second >= BATCH
        now_ms = int(time.time() * 1000) - 120_000
        with running_midtrans_peer(SERVER_KEY) as peer:
            env = {
                "CHAINFLOW_BILLING_SERVER_KEY": SERVER_KEY,
                "CHAINFLOW_BILLING_SNAP_URL": peer.snap_url,
                "CHAINFLOW_BILLING_CORE_API_URL": peer.core_api_url,
            }
            with running_server(tmp_path / "home", env) as base:
                key = _api_key(base, EMAIL, ["ticks:write"])
                url = base.replace("http", "ws") + f"/ws/ticks?api_key={key}"
                free = asyncio.run(send_batch(url, now_ms, 1, 20))
                assert admitted(free) == TIER_LIMITS[Tier.FREE].ticks_per_second

                asyncio.run(pay(peer, base, _login(base, EMAIL)))
                # Let the bucket refill at the new rate (50 tokens take 0.25 s at 200/s;
                # at the free rate it never holds more than 20).
                time.sleep(0.5)
                pro = asyncio.run(send_batch(url, now_ms + 60_000, BATCH + 1, 2 * BATCH))

                assert [f for f in pro if f.get("code") == "rate_limited"] == []
                assert pro[-1] == {"type": "ack", "seq": 2 * BATCH}
