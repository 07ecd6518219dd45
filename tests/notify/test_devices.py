"""Push devices and verified phone numbers: stored through the API, confirmed by a code
sent by SMS, used as addresses of the hub, disabled when the provider says they are gone.
The SMS provider and FCM are real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from chainflow.runtime import operator_tasks
from tests.fixtures.loopback_server import serving_on_loopback
from tests.notify.hub import Hub, eventually, open_hub
from tests.notify.peers.push import PushPeer, Subscriber, service_account
from tests.notify.peers.sms import SmsPeer
from tests.notify.peers.smtp import SmtpServer, smtp_server

URL = "/api/v1/notifications/devices"
PHONE = "+6281234567890"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def sms() -> Iterator[SmsPeer]:
    state = SmsPeer(account_id="AC-hub", auth_token="sms-secret")
    with serving_on_loopback(state.app()) as (host, port):
        state.base_url = f"http://{host}:{port}"
        yield state


@pytest.fixture
def push() -> Iterator[PushPeer]:
    state = PushPeer()
    with serving_on_loopback(state.app()) as (host, port):
        state.base_url = f"http://{host}:{port}"
        account, public_key = service_account(f"{state.base_url}/token")
        state.fcm_public_key = public_key
        state.account = account  # type: ignore[attr-defined]
        yield state


@pytest.fixture
async def hub(tmp_path: Path, smtp: SmtpServer, sms: SmsPeer, push: PushPeer) -> AsyncIterator[Hub]:
    async with open_hub(
        tmp_path / "home",
        smtp,
        sms_base_url=sms.base_url,
        sms_account_id=sms.account_id,
        sms_auth_token=SecretStr(sms.auth_token),
        sms_from="+15550001111",
        fcm_service_account_json=SecretStr(json.dumps(push.account)),  # type: ignore[attr-defined]
        fcm_base_url=push.base_url,
        fcm_token_url=f"{push.base_url}/token",
    ) as hub:
        yield hub


def code_in(sms: SmsPeer) -> str:
    body = sms.sent[-1]["Body"]
    return next(word for word in body.split() if word.rstrip(".").isdigit()).rstrip(".")


class TestPhones:
    async def test_phone_is_verified_by_its_code_then_receives_alerts(
        self, hub: Hub, sms: SmsPeer
    ) -> None:
        free = await hub.http.post(URL, json={"kind": "sms", "phone": PHONE})
        assert free.status_code == 403
        assert free.json()["error"]["code"] == "notification_channel_not_in_tier"
        await operator_tasks.change_tier(hub.kernel, hub.email, "enterprise")

        added = await hub.http.post(URL, json={"kind": "sms", "phone": PHONE, "label": "mine"})
        assert added.status_code == 201, added.text
        device = added.json()
        assert device["verified"] is False and device["address_hint"] == "+62…890"
        await eventually(lambda: len(sms.sent) == 1)
        assert sms.sent[0]["To"] == PHONE and "ChainFlow code" in sms.sent[0]["Body"]
        code = code_in(sms)
        again = await hub.http.post(URL, json={"kind": "sms", "phone": PHONE})
        assert again.status_code == 429  # one code per minute

        put = await hub.http.put(
            "/api/v1/notifications/preferences", json={"default_channels": ["sms"]}
        )
        assert put.status_code == 200
        wrong = "000000" if code != "000000" else "111111"
        refused = await hub.http.post(f"{URL}/{device['id']}/verify", json={"code": wrong})
        assert refused.status_code == 422 and "4 tries left" in refused.text
        await hub.http.post("/api/v1/notifications/test", json={"channel": "sms"})
        # an unverified number receives nothing: the test-send has no address
        verified = await hub.http.post(f"{URL}/{device['id']}/verify", json={"code": code})
        assert verified.status_code == 200 and verified.json()["verified"] is True

        breaker = {"type": "circuit_breaker", "tenant_id": hub.tenant_id, "reason": "loss"}
        breaker["ts"] = 1_790_000_000_000  # type: ignore[assignment]
        await hub.kernel.infra.bus.publish(
            f"trading.risk.{hub.tenant_id}", json.dumps(breaker).encode()
        )
        await eventually(lambda: len(sms.sent) == 2)
        assert sms.sent[1]["To"] == PHONE and "circuit breaker" in sms.sent[1]["Body"]

    async def test_a_code_is_good_for_five_tries_only(self, hub: Hub, sms: SmsPeer) -> None:
        await operator_tasks.change_tier(hub.kernel, hub.email, "enterprise")
        device = (await hub.http.post(URL, json={"kind": "sms", "phone": PHONE})).json()
        await eventually(lambda: len(sms.sent) == 1)
        code = code_in(sms)
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            await hub.http.post(f"{URL}/{device['id']}/verify", json={"code": wrong})
        late = await hub.http.post(f"{URL}/{device['id']}/verify", json={"code": code})
        assert late.status_code == 422 and "5 wrong codes" in late.text


class TestPushDevices:
    async def test_fcm_token_receives_push_and_a_dead_one_is_disabled(
        self, hub: Hub, push: PushPeer
    ) -> None:
        ok = await hub.http.post(URL, json={"kind": "fcm", "token": "app-token-1"})
        dead = await hub.http.post(URL, json={"kind": "fcm", "token": "dead-token"})
        assert ok.status_code == 201 and dead.status_code == 201
        sent = await hub.http.post("/api/v1/notifications/test", json={"channel": "push"})
        assert sent.json() == {"queued": 2}
        await eventually(lambda: len(push.fcm_sent) == 1)
        assert push.fcm_sent[0]["token"] == "app-token-1"

        async def disabled() -> bool:
            listed = await hub.http.get(URL)
            if listed.status_code == 429:  # polled faster than the tier's rate on a busy machine
                return False
            return [d["enabled"] for d in listed.json()["items"]] == [True, False]

        for _ in range(200):
            if await disabled():
                break
            await asyncio.sleep(0.05)
        assert await disabled()
        again = await hub.http.post("/api/v1/notifications/test", json={"channel": "push"})
        assert again.json() == {"queued": 1}

    async def test_web_push_subscription_is_checked_listed_and_removed(self, hub: Hub) -> None:
        subscription = Subscriber().subscription("https://push.example.net/send/abc")
        added = await hub.http.post(URL, json={"kind": "webpush", "subscription": subscription})
        assert added.status_code == 201, added.text
        assert added.json()["address_hint"] == "push.example.net"
        same = await hub.http.post(URL, json={"kind": "webpush", "subscription": subscription})
        assert same.json()["id"] == added.json()["id"]
        for endpoint in ("http://push.example.net/x", "https://127.0.0.1/x", "https://localhost/x"):
            moved = {**subscription, "endpoint": endpoint}
            refused = await hub.http.post(URL, json={"kind": "webpush", "subscription": moved})
            assert refused.status_code == 422, endpoint
        mixed = await hub.http.post(URL, json={"kind": "fcm", "phone": PHONE})
        assert mixed.status_code == 422

        removed = await hub.http.delete(f"{URL}/{added.json()['id']}")
        assert removed.status_code == 204
        assert (await hub.http.get(URL)).json()["items"] == []
        missing = await hub.http.delete(f"{URL}/{added.json()['id']}")
        assert missing.status_code == 404
