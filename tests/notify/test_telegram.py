"""The Telegram channel against a Bot API look-alike on loopback (tests/notify/peers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from pydantic import SecretStr

from chainflow.core.clock import SimulatedClock, WallClock
from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import Message
from chainflow.notify.channels.rate_limit import SendRateLimiter
from chainflow.notify.channels.telegram import TelegramChannel
from chainflow.notify.channels.telegram_format import (
    MARKDOWN_V2_SPECIALS,
    escape_html,
    escape_markdown_v2,
    format_text,
)
from tests.fixtures.loopback_server import serving_on_loopback
from tests.fixtures.processes import free_port
from tests.notify.peers.telegram import (
    BLOCKED_CHAT,
    BROKEN_CHAT,
    FLOOD_CHAT,
    FLOOD_RETRY_AFTER,
    TelegramPeer,
    parse_markdown_v2,
)

TOKEN = "123456:AAF-secret-token_xyz"
CHAT = "1001"
TRICKY = "P&L <b>5</b> > 3 & EURUSD.a_x *1.2* [x](y) ~`#+-=|{}.! \\ done"


@pytest.fixture
def peer() -> Iterator[TelegramPeer]:
    state = TelegramPeer(token=TOKEN, chats={CHAT, "1002"})
    with serving_on_loopback(state.app()) as (host, port):
        state.base_url = f"http://{host}:{port}"
        yield state


def settings_for(base_url: str, **overrides: object) -> NotifySettings:
    values: dict[str, object] = {
        "telegram_bot_token": SecretStr(TOKEN),
        "telegram_api_base_url": base_url,
        "telegram_global_rate_per_s": 1000.0,
        "telegram_chat_rate_per_s": 1000.0,
        **overrides,
    }
    return NotifySettings(**values)  # type: ignore[arg-type]


def message(chat: str, text: str = TRICKY, subject: str = "Risk <alert>") -> Message:
    return Message(
        idempotency_key="evt-1:user-1:telegram",
        channel="telegram",
        address=chat,
        subject=subject,
        text=text,
        html=None,
        severity="warning",
    )


class TestEscaping:
    def test_html_escapes_only_amp_lt_gt(self) -> None:
        assert escape_html('a & b < c > d "q"') == 'a &amp; b &lt; c &gt; d "q"'

    def test_markdown_v2_escapes_every_special_character(self) -> None:
        escaped = escape_markdown_v2(MARKDOWN_V2_SPECIALS + "\\")
        assert escaped == "".join("\\" + c for c in MARKDOWN_V2_SPECIALS + "\\")
        assert parse_markdown_v2(escaped) == MARKDOWN_V2_SPECIALS + "\\"

    def test_long_text_is_cut_before_escaping(self) -> None:
        formatted = format_text("S", "." * 5000, "MarkdownV2")
        assert parse_markdown_v2(formatted).startswith("S\n")
        assert len(parse_markdown_v2(formatted)) <= 4096


class TestSend:
    async def test_html_message_reads_as_the_plain_text(self, peer: TelegramPeer) -> None:
        channel = TelegramChannel(settings_for(peer.base_url), clock=WallClock())
        try:
            result = await channel.send(message(CHAT))
        finally:
            await channel.close()
        assert result.ok and result.provider_id == "1"
        assert peer.texts_to(CHAT) == [f"Risk <alert>\n{TRICKY}"]
        assert peer.sent[0]["parse_mode"] == "HTML"

    async def test_markdown_v2_message_reads_as_the_plain_text(self, peer: TelegramPeer) -> None:
        settings = settings_for(peer.base_url, telegram_parse_mode="MarkdownV2")
        channel = TelegramChannel(settings, clock=WallClock())
        try:
            result = await channel.send(message(CHAT))
        finally:
            await channel.close()
        assert result.ok, result.error
        assert peer.texts_to(CHAT) == [f"Risk <alert>\n{TRICKY}"]

    async def test_prerendered_html_is_sent_as_it_is(self, peer: TelegramPeer) -> None:
        channel = TelegramChannel(settings_for(peer.base_url), clock=WallClock())
        html_message = replace(message(CHAT, text="Hi & bye"), html="<b>Hi</b> &amp; bye")
        try:
            result = await channel.send(html_message)
        finally:
            await channel.close()
        assert result.ok
        assert peer.sent[0]["text"] == "<b>Hi</b> &amp; bye"
        assert peer.texts_to(CHAT) == ["Hi & bye"]


class TestErrors:
    async def test_429_returns_retry_after_and_pauses_the_chat(self, peer: TelegramPeer) -> None:
        clock = SimulatedClock(start_ms=1_000_000)
        channel = TelegramChannel(settings_for(peer.base_url), clock=clock)
        try:
            first = await channel.send(message(FLOOD_CHAT))
            wait_for_chat = channel.limiter.reserve(FLOOD_CHAT)
            clock.advance_ms(FLOOD_RETRY_AFTER * 1000)
            second = await channel.send(message(FLOOD_CHAT))
        finally:
            await channel.close()
        assert not first.ok and not first.permanent
        assert first.retry_after_s == FLOOD_RETRY_AFTER
        assert wait_for_chat == pytest.approx(FLOOD_RETRY_AFTER)
        assert second.ok

    async def test_blocked_bot_is_permanent_and_disables_the_binding(
        self, peer: TelegramPeer
    ) -> None:
        channel = TelegramChannel(settings_for(peer.base_url), clock=WallClock())
        try:
            result = await channel.send(message(BLOCKED_CHAT))
        finally:
            await channel.close()
        assert not result.ok and result.permanent and result.disable_binding
        assert "blocked" in (result.error or "")

    async def test_unknown_chat_is_permanent_without_disabling(self, peer: TelegramPeer) -> None:
        channel = TelegramChannel(settings_for(peer.base_url), clock=WallClock())
        try:
            result = await channel.send(message("999"))
        finally:
            await channel.close()
        assert not result.ok and result.permanent and not result.disable_binding
        assert "chat not found" in (result.error or "")

    async def test_server_error_is_retryable(self, peer: TelegramPeer) -> None:
        channel = TelegramChannel(settings_for(peer.base_url), clock=WallClock())
        try:
            result = await channel.send(message(BROKEN_CHAT))
        finally:
            await channel.close()
        assert not result.ok and not result.permanent and result.retry_after_s is None

    async def test_unreachable_api_is_retryable_and_hides_the_token(self) -> None:
        settings = settings_for(f"http://127.0.0.1:{free_port()}")
        channel = TelegramChannel(settings, clock=WallClock())
        try:
            result = await channel.send(message(CHAT))
        finally:
            await channel.close()
        assert not result.ok and not result.permanent
        assert TOKEN not in (result.error or "")

    async def test_wrong_token_is_retryable(self, peer: TelegramPeer) -> None:
        settings = settings_for(peer.base_url, telegram_bot_token=SecretStr("1:other"))
        channel = TelegramChannel(settings, clock=WallClock())
        try:
            result = await channel.send(message(CHAT))
        finally:
            await channel.close()
        assert not result.ok and not result.permanent and "401" in (result.error or "")


class TestTokenSecrecy:
    async def test_httpx_request_log_never_shows_the_token(
        self, peer: TelegramPeer, caplog: pytest.LogCaptureFixture
    ) -> None:
        channel = TelegramChannel(settings_for(peer.base_url), clock=WallClock())
        try:
            with caplog.at_level(logging.DEBUG):
                await channel.send(message(CHAT))
                await channel.send(message(BLOCKED_CHAT))
        finally:
            await channel.close()
        # The peer's own access log (uvicorn, the provider's side) is not ours.
        ours = [r for r in caplog.records if not r.name.startswith("uvicorn")]
        lines = [record.getMessage() for record in ours]
        assert any("sendMessage" in line for line in lines)
        assert all(TOKEN not in line for line in lines)

    def test_settings_repr_hides_the_token(self) -> None:
        assert TOKEN not in repr(settings_for("http://127.0.0.1:1"))


class TestRateLimiter:
    def test_one_message_per_second_per_chat(self) -> None:
        clock = SimulatedClock(start_ms=0)
        limiter = SendRateLimiter(global_rate=30, per_key_rate=1, clock=clock)
        assert limiter.reserve("a") == 0
        assert limiter.reserve("a") == pytest.approx(1.0)
        assert limiter.reserve("a") == pytest.approx(2.0)

    def test_thirty_messages_per_second_overall(self) -> None:
        clock = SimulatedClock(start_ms=0)
        limiter = SendRateLimiter(global_rate=30, per_key_rate=1, clock=clock)
        waits = [limiter.reserve(f"chat-{i}") for i in range(31)]
        assert waits[0] == 0
        assert waits[30] == pytest.approx(1.0)
        assert all(b > a for a, b in zip(waits, waits[1:], strict=False))

    def test_elapsed_time_frees_the_slot(self) -> None:
        clock = SimulatedClock(start_ms=0)
        limiter = SendRateLimiter(global_rate=30, per_key_rate=1, clock=clock)
        limiter.reserve("a")
        clock.advance_ms(1500)
        assert limiter.reserve("a") == 0

    def test_pause_without_key_holds_every_chat(self) -> None:
        clock = SimulatedClock(start_ms=0)
        limiter = SendRateLimiter(global_rate=30, per_key_rate=1, clock=clock)
        limiter.pause(5.0)
        assert limiter.reserve("b") == pytest.approx(5.0)
