"""The Telegram bot of the notification hub: links, updates, the poller and its router.

Built only when a bot token is set. ``TelegramBot`` owns what lives as long as the
service: the poller (``telegram_updates=polling``) or the webhook registration
(``telegram_updates=webhook``), both started and stopped with the notify component.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.logging import get_logger
from chainflow.notify.channels.telegram import TelegramChannel
from chainflow.notify.telegram_bot.commands import BotCommands
from chainflow.notify.telegram_bot.data import TenantData
from chainflow.notify.telegram_bot.linking import TelegramLinks
from chainflow.notify.telegram_bot.polling import UpdatePoller
from chainflow.notify.telegram_bot.routes import build_telegram_router
from chainflow.notify.telegram_bot.updates import TelegramUpdates

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel

__all__ = ["TelegramBot", "WEBHOOK_PATH"]

log = get_logger("chainflow.runtime.notify_telegram")

WEBHOOK_PATH = "/api/v1/notifications/telegram/webhook"
ALLOWED_UPDATES = ["message", "callback_query"]


class TelegramBot:
    """The bot's parts for one process, around the Telegram channel that sends its replies."""

    def __init__(
        self, kernel: Kernel, channel: TelegramChannel, *, data: TenantData | None
    ) -> None:
        settings = kernel.settings.notify
        self._settings = settings
        self._public_base_url = settings.public_base_url
        self.channel = channel
        self.links = TelegramLinks(
            database=kernel.infra.database, clock=kernel.clock, settings=settings
        )
        commands = BotCommands(data=data, links=self.links, clock=kernel.clock)
        self.updates = TelegramUpdates(links=self.links, commands=commands, channel=channel)
        self.poller: UpdatePoller | None = None
        if settings.telegram_updates == "polling":
            self.poller = UpdatePoller(
                api=channel.api, updates=self.updates, timeout_s=settings.telegram_poll_timeout_s
            )

    def router(self) -> APIRouter:
        """Return ``/notifications/telegram/...`` (link, link state, webhook)."""
        return build_telegram_router(
            links=self.links, updates=self.updates, settings=self._settings
        )

    async def addresses(self, tenant_id: str, user_id: str) -> Mapping[str, Sequence[str]]:
        """Return ``{"telegram": [chat id]}`` while the user's chat is enabled and unmuted."""
        return await self.links.addresses(tenant_id, user_id)

    async def disable_chat(self, chat_id: str, reason: str) -> bool:
        """Disable the binding of a chat that blocked the bot; return whether it was on."""
        return await self.links.disable_chat(chat_id, reason)

    async def start(self) -> None:
        """Start long polling, or register the webhook, as the settings say."""
        if self.poller is not None:
            self.poller.start()
        elif self._settings.telegram_updates == "webhook":
            await self._set_webhook()

    async def stop(self) -> None:
        """Stop long polling (the webhook stays registered with Telegram)."""
        if self.poller is not None:
            await self.poller.stop()

    async def _set_webhook(self) -> None:
        secret = self._settings.telegram_webhook_secret.get_secret_value()
        if not secret:
            log.warning(
                "telegram_webhook_not_set",
                reason="CHAINFLOW_NOTIFY_TELEGRAM_WEBHOOK_SECRET is empty; updates are refused",
            )
            return
        payload: dict[str, object] = {
            "url": self._public_base_url.rstrip("/") + WEBHOOK_PATH,
            "secret_token": secret,
            "allowed_updates": ALLOWED_UPDATES,
        }
        try:
            reply = await self.channel.api.call("setWebhook", payload)
        except DependencyUnavailable as exc:
            log.warning("telegram_webhook_not_set", reason=exc.message)
            return
        if not reply.ok:
            log.warning("telegram_webhook_not_set", reason=reply.description)
