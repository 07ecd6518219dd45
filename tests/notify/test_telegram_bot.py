"""The Telegram bot end to end: deep-link linking over the webhook and long polling, and
commands answered from the linked tenant's own data (a real TradingService on SQLite),
with replies read from the Bot API look-alike on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import ChainflowError
from chainflow.core.ids import TenantId
from chainflow.core.settings import (
    DatabaseSettings,
    NotifySettings,
    TimeSeriesSettings,
    TradingSettings,
)
from chainflow.core.tenancy import TenantContext
from chainflow.hub.bus.memory import InProcessBus
from chainflow.notify.channels.telegram import TelegramChannel
from chainflow.notify.telegram_bot.commands import BotCommands
from chainflow.notify.telegram_bot.data import TradingData
from chainflow.notify.telegram_bot.linking import TelegramLinks
from chainflow.notify.telegram_bot.models import TelegramBinding, TelegramLinkCode
from chainflow.notify.telegram_bot.polling import UpdatePoller
from chainflow.notify.telegram_bot.routes import build_telegram_router
from chainflow.notify.telegram_bot.updates import TelegramUpdates
from chainflow.storage.relational import Database
from chainflow.storage.timeseries import open_timeseries
from chainflow.trading.api import SignalIssued
from chainflow.trading.models import PaperAccountRecord, SignalRecord
from chainflow.trading.repository import SignalRepository
from chainflow.trading.service import TradingService
from tests.fixtures.loopback_server import serving_on_loopback
from tests.notify.peers.telegram import BLOCKED_CHAT, TelegramPeer

TOKEN = "42:bot-token-secret"
WEBHOOK_SECRET = "hook-secret-123"
TENANT_A, TENANT_B = "a" * 32, "b" * 32
CHAT_A, CHAT_B = "5001", "5002"
START_MS = 1_767_225_600_000  # 2026-01-01 UTC


@dataclass
class Bot:
    peer: TelegramPeer
    clock: SimulatedClock
    links: TelegramLinks
    updates: TelegramUpdates
    channel: TelegramChannel
    database: Database
    settings: NotifySettings
    trading: TradingService


@pytest.fixture
def peer() -> Iterator[TelegramPeer]:
    state = TelegramPeer(token=TOKEN, chats={CHAT_A, CHAT_B})
    with serving_on_loopback(state.app()) as (host, port):
        state.base_url = f"http://{host}:{port}"
        yield state


@pytest.fixture
async def bot(peer: TelegramPeer, tmp_path: Path) -> AsyncIterator[Bot]:
    clock = SimulatedClock(start_ms=START_MS)
    database = Database(
        f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", DatabaseSettings(), clock=clock
    )
    async with database.unit_of_work(system=True) as uow:
        connection = await uow.session.connection()
        tables = [
            m.__table__
            for m in (TelegramBinding, TelegramLinkCode, SignalRecord, PaperAccountRecord)
        ]
        await connection.run_sync(lambda c: tables[0].metadata.create_all(c, tables=tables))
    settings = NotifySettings(
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_base_url=peer.base_url,
        telegram_bot_username="ChainFlowBot",
        telegram_webhook_secret=SecretStr(WEBHOOK_SECRET),
        telegram_global_rate_per_s=1000.0,
        telegram_chat_rate_per_s=1000.0,
    )
    store = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}", TimeSeriesSettings())
    trading = TradingService(
        bus=InProcessBus(), database=database, store=store, clock=clock, settings=TradingSettings()
    )
    channel = TelegramChannel(settings, clock=clock)
    links = TelegramLinks(database=database, clock=clock, settings=settings)
    commands = BotCommands(data=TradingData(trading), links=links, clock=clock)
    updates = TelegramUpdates(links=links, commands=commands, channel=channel)
    yield Bot(peer, clock, links, updates, channel, database, settings, trading)
    await channel.close()
    await database.dispose()


def text_update(chat_id: str, text: str) -> dict[str, Any]:
    return {
        "message": {
            "message_id": 1,
            "chat": {"id": int(chat_id), "type": "private"},
            "from": {"id": int(chat_id), "username": "trader"},
            "text": text,
        }
    }


async def link(bot: Bot, tenant_id: str, user_id: str, chat_id: str, role: str = "owner") -> None:
    tenant = TenantContext(tenant_id=TenantId(tenant_id))
    issued = await bot.links.issue(tenant, user_id=user_id, role=role)
    await bot.updates.handle(text_update(chat_id, f"/start {issued.code}"))


async def record_signal(bot: Bot, tenant_id: str, symbol: str, action: str) -> None:
    tenant = TenantContext(tenant_id=TenantId(tenant_id))
    signal = SignalIssued(
        symbol=symbol,
        ts=START_MS,
        action=action,
        confidence=0.8,
        size=0.1,
        stop_loss=None,
        take_profit=None,
        model="gbm@3",
        reasons=[],
    )
    async with bot.database.unit_of_work(tenant) as uow:
        await SignalRepository(uow.session, tenant).record(signal, "M5")


class TestLinking:
    async def test_deep_link_binds_the_chat_once(self, bot: Bot) -> None:
        tenant = TenantContext(tenant_id=TenantId(TENANT_A))
        issued = await bot.links.issue(tenant, user_id="u1", role="owner")
        assert issued.url == f"https://t.me/ChainFlowBot?start={issued.code}"
        await bot.updates.handle(text_update(CHAT_A, f"/start {issued.code}"))
        await bot.updates.handle(text_update(CHAT_B, f"/start {issued.code}"))
        assert bot.peer.texts_to(CHAT_A)[0].startswith("Linked.")
        assert "invalid or expired" in bot.peer.texts_to(CHAT_B)[0]
        assert await bot.links.addresses(TENANT_A, "u1") == {"telegram": [CHAT_A]}

    async def test_expired_code_is_refused(self, bot: Bot) -> None:
        tenant = TenantContext(tenant_id=TenantId(TENANT_A))
        issued = await bot.links.issue(tenant, user_id="u1", role="owner")
        bot.clock.advance_ms(int(bot.settings.telegram_link_ttl_s * 1000) + 1)
        await bot.updates.handle(text_update(CHAT_A, f"/start {issued.code}"))
        assert "invalid or expired" in bot.peer.texts_to(CHAT_A)[0]
        assert await bot.links.addresses(TENANT_A, "u1") == {}

    async def test_unlinked_chat_is_told_how_to_link(self, bot: Bot) -> None:
        await bot.updates.handle(text_update(CHAT_A, "/status"))
        assert "not linked" in bot.peer.texts_to(CHAT_A)[0]

    async def test_blocked_chat_disables_the_binding(self, bot: Bot) -> None:
        bot.peer.chats.add(BLOCKED_CHAT)
        await link(bot, TENANT_A, "u1", BLOCKED_CHAT)
        assert await bot.links.disable_chat(BLOCKED_CHAT, "telegram 403: bot was blocked")
        assert await bot.links.addresses(TENANT_A, "u1") == {}

    async def test_long_polling_receives_the_start_update(self, bot: Bot) -> None:
        tenant = TenantContext(tenant_id=TenantId(TENANT_A))
        issued = await bot.links.issue(tenant, user_id="u1", role="owner")
        bot.peer.push_update(text_update(CHAT_A, f"/start {issued.code}"))
        poller = UpdatePoller(api=bot.channel.api, updates=bot.updates, timeout_s=1)
        assert await poller.poll_once() == 1
        assert await poller.poll_once() == 0  # the offset moved past the handled update
        assert bot.peer.texts_to(CHAT_A)[0].startswith("Linked.")


class TestWebhook:
    @pytest.fixture
    def client(self, bot: Bot) -> httpx.AsyncClient:
        app = FastAPI()

        @app.exception_handler(ChainflowError)
        async def render(_request: Any, exc: ChainflowError) -> Any:
            from fastapi.responses import JSONResponse

            return JSONResponse(exc.to_payload(), status_code=exc.status)

        router = build_telegram_router(links=bot.links, updates=bot.updates, settings=bot.settings)
        app.include_router(router, prefix="/api/v1")
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    async def test_update_with_the_secret_links_the_chat(
        self, bot: Bot, client: httpx.AsyncClient
    ) -> None:
        tenant = TenantContext(tenant_id=TenantId(TENANT_A))
        issued = await bot.links.issue(tenant, user_id="u1", role="owner")
        response = await client.post(
            "/api/v1/notifications/telegram/webhook",
            json={"update_id": 1, **text_update(CHAT_A, f"/start {issued.code}")},
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        )
        assert response.status_code == 200
        assert await bot.links.addresses(TENANT_A, "u1") == {"telegram": [CHAT_A]}

    @pytest.mark.parametrize("header", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
    async def test_wrong_or_missing_secret_is_403(
        self, bot: Bot, client: httpx.AsyncClient, header: dict[str, str]
    ) -> None:
        tenant = TenantContext(tenant_id=TenantId(TENANT_A))
        issued = await bot.links.issue(tenant, user_id="u1", role="owner")
        response = await client.post(
            "/api/v1/notifications/telegram/webhook",
            json=text_update(CHAT_A, f"/start {issued.code}"),
            headers=header,
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "telegram_webhook_secret_invalid"
        assert await bot.links.addresses(TENANT_A, "u1") == {}


class TestCommands:
    async def test_signals_answer_only_with_the_linked_tenant(self, bot: Bot) -> None:
        await record_signal(bot, TENANT_A, "EURUSD", "buy")
        await record_signal(bot, TENANT_B, "XAUUSD", "sell")
        await link(bot, TENANT_A, "u1", CHAT_A)
        await link(bot, TENANT_B, "u2", CHAT_B)
        await bot.updates.handle(text_update(CHAT_A, "/signals"))
        await bot.updates.handle(text_update(CHAT_B, "/status"))
        answer_a = bot.peer.texts_to(CHAT_A)[-1]
        answer_b = bot.peer.texts_to(CHAT_B)[-1]
        assert "EURUSD buy" in answer_a and "XAUUSD" not in answer_a
        assert "XAUUSD: sell" in answer_b and "EURUSD" not in answer_b
        assert "Terminals connected: not available" in answer_b

    async def test_signals_filter_by_symbol(self, bot: Bot) -> None:
        await record_signal(bot, TENANT_A, "EURUSD", "buy")
        await record_signal(bot, TENANT_A, "GBPUSD", "sell")
        await link(bot, TENANT_A, "u1", CHAT_A)
        await bot.updates.handle(text_update(CHAT_A, "/signals gbpusd"))
        answer = bot.peer.texts_to(CHAT_A)[-1]
        assert "GBPUSD sell" in answer and "EURUSD" not in answer

    async def test_positions_and_pnl_read_the_paper_account(self, bot: Bot) -> None:
        await link(bot, TENANT_A, "u1", CHAT_A)
        await bot.updates.handle(text_update(CHAT_A, "/positions"))
        await bot.updates.handle(text_update(CHAT_A, "/pnl week"))
        positions, pnl = bot.peer.texts_to(CHAT_A)[-2:]
        assert "No open positions." in positions
        assert pnl.startswith("P&L (week)\nEquity change: +0.00")
        buttons = bot.peer.sent[-1]["reply_markup"]["inline_keyboard"][0]
        assert [b["callback_data"] for b in buttons] == ["/pnl day", "/pnl week"]

    async def test_inline_button_runs_its_command(self, bot: Bot) -> None:
        await link(bot, TENANT_A, "u1", CHAT_A)
        press = {
            "callback_query": {
                "id": "cb1",
                "data": "/pnl day",
                "from": {"id": 1},
                "message": {"chat": {"id": int(CHAT_A)}},
            }
        }
        await bot.updates.handle(press)
        assert bot.peer.texts_to(CHAT_A)[-1].startswith("P&L (day)")

    async def test_mute_holds_the_address_until_it_ends(self, bot: Bot) -> None:
        await link(bot, TENANT_A, "u1", CHAT_A, role="viewer")
        await bot.updates.handle(text_update(CHAT_A, "/mute 2h"))
        assert "Muted until 2026-01-01 02:00 UTC" in bot.peer.texts_to(CHAT_A)[-1]
        assert await bot.links.addresses(TENANT_A, "u1") == {}
        bot.clock.advance_ms(2 * 3_600_000 + 1)
        assert await bot.links.addresses(TENANT_A, "u1") == {"telegram": [CHAT_A]}

    async def test_unmute_resumes_at_once(self, bot: Bot) -> None:
        await link(bot, TENANT_A, "u1", CHAT_A)
        await bot.updates.handle(text_update(CHAT_A, "/mute"))
        await bot.updates.handle(text_update(CHAT_A, "/unmute"))
        assert await bot.links.addresses(TENANT_A, "u1") == {"telegram": [CHAT_A]}

    async def test_bad_mute_duration_is_explained(self, bot: Bot) -> None:
        await link(bot, TENANT_A, "u1", CHAT_A)
        await bot.updates.handle(text_update(CHAT_A, "/mute 30d"))
        assert "at most 7d); received 30d" in bot.peer.texts_to(CHAT_A)[-1]

    async def test_unknown_command_answers_help(self, bot: Bot) -> None:
        await link(bot, TENANT_A, "u1", CHAT_A)
        await bot.updates.handle(text_update(CHAT_A, "/what <b>"))
        assert "/pnl [day|week]" in bot.peer.texts_to(CHAT_A)[-1]

    async def test_symbol_with_markup_is_refused_and_escaped(self, bot: Bot) -> None:
        await link(bot, TENANT_A, "u1", CHAT_A)
        await bot.updates.handle(text_update(CHAT_A, "/signals <b>&x"))
        assert bot.peer.texts_to(CHAT_A)[-1] == (
            "Expected a symbol such as EURUSD; received <b>&x."
        )
