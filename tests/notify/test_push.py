"""The push channel (Web Push with VAPID, FCM HTTP v1) against loopback look-alikes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from chainflow.core.clock import SimulatedClock, WallClock
from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message
from chainflow.notify.channels.push import PushChannel
from tests.fixtures.loopback_server import serving_on_loopback
from tests.notify.peers.push import RETRY_AFTER, PushPeer, Subscriber, service_account

# The peers verify JWT times against their wall clock.
NOW_MS = WallClock().now_ms()


@pytest.fixture
def peer() -> Iterator[PushPeer]:
    state = PushPeer()
    with serving_on_loopback(state.app()) as (host, port):
        state.base_url = f"http://{host}:{port}"
        account, public_key = service_account(f"{state.base_url}/token")
        state.fcm_public_key = public_key
        state.account = account  # type: ignore[attr-defined]
        yield state


def vapid_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def settings_for(peer: PushPeer, **overrides: object) -> NotifySettings:
    values: dict[str, object] = {
        "webpush_vapid_private_key": SecretStr(vapid_pem()),
        "webpush_vapid_subject": "mailto:ops@chainflow.test",
        "fcm_service_account_json": SecretStr(json.dumps(peer.account)),  # type: ignore[attr-defined]
        "fcm_base_url": peer.base_url,
        "fcm_token_url": f"{peer.base_url}/token",
        **overrides,
    }
    return NotifySettings(**values)  # type: ignore[arg-type]


def message(address: str, severity: str = "critical") -> Message:
    return Message(
        idempotency_key="evt-9:user-1:push",
        channel="push",
        address=address,
        subject="Circuit breaker",
        text="Trading halted on EURUSD",
        html=None,
        severity=severity,
        metadata={"event": "risk.breaker"},
    )


async def send_all(settings: NotifySettings, *addresses: str) -> list[DeliveryResult]:
    channel = PushChannel(settings, clock=SimulatedClock(start_ms=NOW_MS))
    try:
        return [await channel.send(message(address)) for address in addresses]
    finally:
        await channel.close()


def web_subscription(peer: PushPeer, sub_id: str) -> str:
    subscriber = peer.subscribers.setdefault(sub_id, Subscriber())
    return json.dumps(subscriber.subscription(f"{peer.base_url}/push/{sub_id}"))


class TestWebPush:
    async def test_encrypted_signed_payload_reaches_the_browser(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), web_subscription(peer, "s1"))
        assert result.ok, result.error
        assert result.provider_id == f"{peer.base_url}/msg/s1"
        [delivered] = peer.delivered
        assert delivered["payload"]["title"] == "Circuit breaker"
        assert delivered["payload"]["body"] == "Trading halted on EURUSD"
        assert delivered["payload"]["data"] == {"event": "risk.breaker"}
        assert delivered["urgency"] == "high"
        assert delivered["claims"]["sub"] == "mailto:ops@chainflow.test"
        assert delivered["claims"]["exp"] > NOW_MS // 1000

    async def test_expired_subscription_disables_the_binding(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), web_subscription(peer, "gone"))
        assert not result.ok and result.permanent and result.disable_binding

    async def test_429_retries_after_the_header(self, peer: PushPeer) -> None:
        address = web_subscription(peer, "throttled")
        first, second = await send_all(settings_for(peer), address, address)
        assert first.retry_after_s == RETRY_AFTER and not first.permanent
        assert second.ok

    async def test_service_outage_is_retryable(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), web_subscription(peer, "broken"))
        assert not result.ok and not result.permanent

    async def test_malformed_subscription_is_permanent(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), '{"endpoint": "x"}')
        assert not result.ok and result.permanent and "endpoint and keys" in (result.error or "")

    async def test_unconfigured_vapid_names_the_setting(self, peer: PushPeer) -> None:
        settings = settings_for(peer, webpush_vapid_private_key=SecretStr(""))
        [result] = await send_all(settings, web_subscription(peer, "s1"))
        assert result.permanent and "WEBPUSH_VAPID_PRIVATE_KEY" in (result.error or "")


class TestFcm:
    async def test_message_sent_with_a_cached_oauth_token(self, peer: PushPeer) -> None:
        first, second = await send_all(settings_for(peer), "fcm:device-1", "fcm:device-2")
        assert first.ok and second.ok
        assert first.provider_id == "projects/chainflow-test/messages/1"
        assert peer.token_requests == 1
        sent = peer.fcm_sent[0]
        assert sent["token"] == "device-1"
        assert sent["notification"] == {
            "title": "Circuit breaker",
            "body": "Trading halted on EURUSD",
        }
        assert sent["data"] == {"event": "risk.breaker", "severity": "critical"}
        assert sent["android"]["priority"] == "high"

    async def test_revoked_access_token_is_refreshed_on_the_next_try(self, peer: PushPeer) -> None:
        channel = PushChannel(settings_for(peer), clock=SimulatedClock(start_ms=NOW_MS))
        try:
            assert (await channel.send(message("fcm:device-1"))).ok
            peer.access_tokens.clear()
            refused = await channel.send(message("fcm:device-1"))
            retried = await channel.send(message("fcm:device-1"))
        finally:
            await channel.close()
        assert not refused.ok and not refused.permanent
        assert retried.ok and peer.token_requests == 2

    async def test_unregistered_token_disables_the_binding(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), "fcm:dead-token")
        assert result.permanent and result.disable_binding and "NOT_FOUND" in (result.error or "")

    async def test_invalid_argument_is_permanent(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), "fcm:bad-token")
        assert result.permanent and not result.disable_binding

    async def test_quota_exceeded_retries_after_the_header(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), "fcm:busy")
        assert result.retry_after_s == RETRY_AFTER and not result.permanent

    async def test_unavailable_is_retryable(self, peer: PushPeer) -> None:
        [result] = await send_all(settings_for(peer), "fcm:down")
        assert not result.ok and not result.permanent and result.retry_after_s is None

    async def test_refused_assertion_is_retryable(self, peer: PushPeer) -> None:
        settings = settings_for(peer, fcm_token_url=f"{peer.base_url}/token?wrong-audience")
        [result] = await send_all(settings, "fcm:device-1")
        assert not result.ok and not result.permanent and "invalid_grant" in (result.error or "")
