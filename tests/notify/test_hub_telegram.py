"""Telegram through the whole runtime: a user links a chat by the deep link (``/start
<code>`` through the webhook), bus events reach the chat, a 429 is retried after its
``retry_after``, and a chat that blocked the bot is disabled and its user told by e-mail.

The kernel runs on embedded storage with a simulated clock; the Bot API look-alike and the
SMTP server are real servers on loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from chainflow.core.clock import SimulatedClock
from chainflow.core.tenancy import TenantContext
from chainflow.notify.models import NotificationOutbox
from tests.fixtures.loopback_server import serving_on_loopback
from tests.notify.hub import Hub, eventually, open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server
from tests.notify.peers.telegram import FLOOD_RETRY_AFTER, TelegramPeer

TOKEN = "777:hub-bot-token"
SECRET = "webhook-secret-42"
CHAT = "90001"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def peer() -> Iterator[TelegramPeer]:
    state = TelegramPeer(token=TOKEN, chats={CHAT})
    with serving_on_loopback(state.app()) as (host, port):
        state.base_url = f"http://{host}:{port}"
        yield state


@pytest.fixture
def clock() -> SimulatedClock:
    # Access tokens are checked against the wall clock too: start near it, then move.
    return SimulatedClock(int(datetime.now(UTC).timestamp() * 1000))


@pytest.fixture
async def hub(
    tmp_path: Path, smtp: SmtpServer, peer: TelegramPeer, clock: SimulatedClock
) -> AsyncIterator[Hub]:
    async with open_hub(
        tmp_path / "home",
        smtp,
        clock=clock,
        worker_enabled=False,
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_base_url=peer.base_url,
        telegram_bot_username="chainflow_test_bot",
        telegram_webhook_secret=SecretStr(SECRET),
        telegram_updates="webhook",
    ) as opened:
        yield opened


async def link_chat(hub: Hub, peer: TelegramPeer, clock: SimulatedClock) -> None:
    """Link ``CHAT`` to the signed-in user as Telegram would: deep link, then /start."""
    created = await hub.http.post("/api/v1/notifications/telegram/link")
    assert created.status_code == 201, created.text
    url = created.json()["url"]
    assert url.startswith("https://t.me/chainflow_test_bot?start=")
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "chat": {"id": int(CHAT), "type": "private"},
            "from": {"id": int(CHAT), "username": "ana"},
            "text": "/start " + url.split("start=", 1)[1],
        },
    }
    hook = "/api/v1/notifications/telegram/webhook"
    refused = await hub.http.post(
        hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
    )
    assert refused.status_code == 403
    accepted = await hub.http.post(
        hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert accepted.status_code == 200, accepted.text
    assert peer.texts_to(CHAT)[-1].startswith("Linked.")
    linked = (await hub.http.get("/api/v1/notifications/telegram/link")).json()
    assert linked == {"linked": True, "enabled": True, "muted_until": None}
    clock.advance_ms(2_000)  # past the chat's 1 msg/s spacing after the reply


async def publish_breaker(hub: Hub, reason: str) -> None:
    body = {
        "type": "circuit_breaker",
        "tenant_id": hub.tenant_id,
        "reason": reason,
        "ts": hub.kernel.clock.now_ms(),
    }
    await hub.kernel.infra.bus.publish(f"trading.risk.{hub.tenant_id}", json.dumps(body).encode())


async def rows(hub: Hub, kind: str, channel: str) -> list[NotificationOutbox]:
    tenant = TenantContext(tenant_id=hub.tenant_id)  # type: ignore[arg-type]
    async with hub.kernel.infra.database.unit_of_work(tenant, read_only=True) as uow:
        statement = (
            select(NotificationOutbox)
            .where(NotificationOutbox.event_type == kind, NotificationOutbox.channel == channel)
            .order_by(NotificationOutbox.created_at, NotificationOutbox.id)
        )
        return list((await uow.session.execute(statement)).scalars().all())


async def queued(hub: Hub, kind: str, channel: str, count: int = 1) -> list[NotificationOutbox]:
    for _ in range(400):
        found = await rows(hub, kind, channel)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} {kind} rows on {channel} in the outbox")


class TestTelegramThroughTheRuntime:
    async def test_webhook_mode_registers_the_webhook_with_its_secret(
        self, hub: Hub, peer: TelegramPeer
    ) -> None:
        [(method, body)] = [c for c in peer.calls if c[0] == "setWebhook"]
        assert body["url"] == "https://app.test/api/v1/notifications/telegram/webhook"
        assert body["secret_token"] == SECRET

    async def test_linked_chat_receives_a_circuit_breaker_from_the_bus(
        self, hub: Hub, peer: TelegramPeer, clock: SimulatedClock, smtp: SmtpServer
    ) -> None:
        await link_chat(hub, peer, clock)
        await publish_breaker(hub, "daily loss <3%> reached")
        await queued(hub, "circuit_breaker", "telegram")
        await hub.notify.worker.drain()

        [sent] = [m for m in peer.sent if "daily loss" in m["read"]]
        assert str(sent["chat_id"]) == CHAT and sent["parse_mode"] == "HTML"
        assert "daily loss <3%> reached" in sent["read"]  # escaped on the wire, read as sent
        [row] = await rows(hub, "circuit_breaker", "telegram")
        assert row.state == "sent" and row.address == CHAT
        assert row.provider_id == str(sent["message_id"])
        await eventually(lambda: len(smtp.sink.messages) == 1)  # e-mail is a default too

    async def test_429_is_retried_after_its_retry_after(
        self, hub: Hub, peer: TelegramPeer, clock: SimulatedClock
    ) -> None:
        await link_chat(hub, peer, clock)
        peer.flood_next(CHAT)
        await publish_breaker(hub, "flooded")
        await queued(hub, "circuit_breaker", "telegram")
        worker = hub.notify.worker

        await worker.drain()
        [row] = await rows(hub, "circuit_breaker", "telegram")
        assert row.state == "pending" and row.attempts == 1 and "429" in (row.last_error or "")
        assert row.next_attempt_at == clock.now() + timedelta(seconds=FLOOD_RETRY_AFTER)
        clock.advance_ms(FLOOD_RETRY_AFTER * 1000 - 100)
        assert await worker.run_once() == 0
        assert not [t for t in peer.texts_to(CHAT) if "flooded" in t]
        clock.advance_ms(100)
        assert await worker.run_once() == 1

        [row] = await rows(hub, "circuit_breaker", "telegram")
        assert row.state == "sent" and row.attempts == 2
        assert len([t for t in peer.texts_to(CHAT) if "flooded" in t]) == 1

    async def test_blocked_chat_is_disabled_and_the_user_told_by_email(
        self, hub: Hub, peer: TelegramPeer, clock: SimulatedClock, smtp: SmtpServer
    ) -> None:
        await link_chat(hub, peer, clock)
        peer.block(CHAT)
        await publish_breaker(hub, "first")
        await publish_breaker(hub, "second")
        await queued(hub, "circuit_breaker", "telegram", count=2)
        await hub.notify.worker.drain()

        blocked = await rows(hub, "circuit_breaker", "telegram")
        assert [r.state for r in blocked] == ["failed", "failed"]
        assert "blocked" in (blocked[0].last_error or "")
        link = (await hub.http.get("/api/v1/notifications/telegram/link")).json()
        assert link["linked"] is True and link["enabled"] is False

        # told once (two messages failed), by e-mail, not by the chat that refused
        [notice] = await queued(hub, "binding_disabled", "email")
        await hub.notify.worker.drain()
        await eventually(lambda: len(smtp.sink.messages) == 3)  # two breakers + the notice
        subjects = [str(m.message["Subject"]) for m in smtp.sink.messages]
        assert "Your Telegram notifications were turned off" in subjects
        assert await rows(hub, "binding_disabled", "telegram") == []
        assert (await rows(hub, "binding_disabled", "email"))[0].state == "sent"

        await publish_breaker(hub, "third")
        await queued(hub, "circuit_breaker", "email", count=3)
        assert len(await rows(hub, "circuit_breaker", "telegram")) == 2  # the chat is off
        assert [r.id for r in await rows(hub, "binding_disabled", "email")] == [notice.id]
