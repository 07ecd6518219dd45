"""The SMS channel against a Twilio-style look-alike on loopback (tests/notify/peers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message
from chainflow.notify.channels.sms import SmsChannel
from tests.fixtures.loopback_server import serving_on_loopback
from tests.notify.peers.sms import BROKEN, INVALID, RETRY_AFTER, THROTTLED, UNSUBSCRIBED, SmsPeer

ACCOUNT = "AC0123456789"
AUTH_TOKEN = "sms-auth-secret"
SENDER = "+15005550006"
RECIPIENT = "+628123456789"


@pytest.fixture
def peer() -> Iterator[SmsPeer]:
    state = SmsPeer(account_id=ACCOUNT, auth_token=AUTH_TOKEN)
    with serving_on_loopback(state.app()) as (host, port):
        state.base_url = f"http://{host}:{port}"
        yield state


def settings_for(peer: SmsPeer, **overrides: object) -> NotifySettings:
    values: dict[str, object] = {
        "sms_base_url": peer.base_url,
        "sms_account_id": ACCOUNT,
        "sms_auth_token": SecretStr(AUTH_TOKEN),
        "sms_from": SENDER,
        **overrides,
    }
    return NotifySettings(**values)  # type: ignore[arg-type]


async def send(settings: NotifySettings, to: str, text: str = "EURUSD stop hit") -> DeliveryResult:
    channel = SmsChannel(settings)
    message = Message(
        idempotency_key="evt:user:sms",
        channel="sms",
        address=to,
        subject="Risk",
        text=text,
        html=None,
        severity="critical",
    )
    try:
        return await channel.send(message)
    finally:
        await channel.close()


class TestSend:
    async def test_form_post_with_basic_auth_delivers(self, peer: SmsPeer) -> None:
        result = await send(settings_for(peer), RECIPIENT)
        assert result.ok and result.provider_id == peer.sent[0]["sid"]
        assert peer.sent[0]["To"] == RECIPIENT
        assert peer.sent[0]["From"] == SENDER
        assert peer.sent[0]["Body"] == "EURUSD stop hit"

    async def test_long_text_is_cut_to_the_limit(self, peer: SmsPeer) -> None:
        result = await send(settings_for(peer, sms_max_chars=20), RECIPIENT, "x" * 100)
        assert result.ok
        assert len(peer.sent[0]["Body"]) == 20

    async def test_field_names_come_from_settings(self, peer: SmsPeer) -> None:
        settings = settings_for(peer, sms_to_field="Recipient")
        result = await send(settings, RECIPIENT)
        assert not result.ok and result.permanent and "21604" in (result.error or "")


class TestErrors:
    async def test_429_retries_after_the_header(self, peer: SmsPeer) -> None:
        result = await send(settings_for(peer), THROTTLED)
        assert not result.ok and result.retry_after_s == RETRY_AFTER and not result.permanent

    async def test_invalid_number_is_permanent(self, peer: SmsPeer) -> None:
        result = await send(settings_for(peer), INVALID)
        assert not result.ok and result.permanent and not result.disable_binding

    async def test_unsubscribed_recipient_disables_the_binding(self, peer: SmsPeer) -> None:
        result = await send(settings_for(peer), UNSUBSCRIBED)
        assert result.permanent and result.disable_binding

    async def test_server_error_is_retryable(self, peer: SmsPeer) -> None:
        result = await send(settings_for(peer), BROKEN)
        assert not result.ok and not result.permanent

    async def test_wrong_credentials_are_retryable(self, peer: SmsPeer) -> None:
        settings = settings_for(peer, sms_auth_token=SecretStr("wrong"))
        result = await send(settings, RECIPIENT)
        assert not result.ok and not result.permanent and "401" in (result.error or "")
        assert AUTH_TOKEN not in (result.error or "")
