"""The Telegram channel: ``sendMessage`` through the Bot API, rate-limited, errors classified.

A message with ``html`` set is sent as it is (the template already escaped it for HTML);
otherwise the subject and text are escaped for the configured parse mode. Provider answers
map to a ``DeliveryResult``:

- 429 with ``parameters.retry_after``: retry after that many seconds (the chat is paused);
- 403 (bot blocked, kicked, user deactivated): permanent, and the chat's binding is disabled;
- 400 (chat not found, bad markup, ...): permanent;
- 5xx, timeouts, connection errors: retryable.
"""

from __future__ import annotations

from typing import Any

import httpx

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message
from chainflow.notify.channels.rate_limit import SendRateLimiter
from chainflow.notify.channels.telegram_api import (
    BotApiReply,
    TelegramApiUnavailableError,
    TelegramBotApi,
)
from chainflow.notify.channels.telegram_format import format_text

__all__ = ["TelegramChannel", "classify_reply"]

log = get_logger("chainflow.notify.telegram")


def classify_reply(reply: BotApiReply) -> DeliveryResult:
    """Map one Bot API answer to what the delivery worker must do next."""
    if reply.ok:
        message_id = reply.result.get("message_id") if isinstance(reply.result, dict) else None
        return DeliveryResult(ok=True, provider_id=None if message_id is None else str(message_id))
    error = f"telegram {reply.status}: {reply.description}".strip()
    if reply.status == 429:
        return DeliveryResult(ok=False, retry_after_s=reply.retry_after_s or 1.0, error=error)
    if reply.status == 403:
        return DeliveryResult(ok=False, permanent=True, disable_binding=True, error=error)
    if reply.status == 400:
        if reply.migrate_to_chat_id is not None:
            error = f"{error} (the group moved to chat {reply.migrate_to_chat_id})"
        return DeliveryResult(ok=False, permanent=True, error=error)
    return DeliveryResult(ok=False, error=error)


class TelegramChannel:
    """Sends notifications to Telegram chats; ``Message.address`` is the chat id."""

    name = "telegram"

    def __init__(
        self,
        settings: NotifySettings,
        *,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.parse_mode = settings.telegram_parse_mode
        self.api = TelegramBotApi(
            token=settings.telegram_bot_token,
            base_url=settings.telegram_api_base_url,
            timeout_s=settings.telegram_timeout_s,
            transport=transport,
        )
        self.limiter = SendRateLimiter(
            global_rate=settings.telegram_global_rate_per_s,
            per_key_rate=settings.telegram_chat_rate_per_s,
            clock=clock,
        )

    async def send(self, message: Message) -> DeliveryResult:
        """Send ``message`` to the chat ``message.address`` once and classify the answer."""
        if message.html is not None:
            text, parse_mode = message.html, "HTML"
        else:
            text = format_text(message.subject, message.text, self.parse_mode)
            parse_mode = self.parse_mode
        return await self.send_text(message.address, text, parse_mode=parse_mode)

    async def send_text(
        self,
        chat_id: str,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_markup: dict[str, Any] | None = None,
    ) -> DeliveryResult:
        """Send ``text`` (already escaped for ``parse_mode``) to ``chat_id``, rate-limited."""
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if parse_mode:
            payload["parse_mode"] = parse_mode
        if reply_markup is not None:
            payload["reply_markup"] = reply_markup
        await self.limiter.acquire(chat_id)
        try:
            reply = await self.api.call("sendMessage", payload)
        except TelegramApiUnavailableError as exc:
            return DeliveryResult(ok=False, error=exc.message)
        result = classify_reply(reply)
        if result.retry_after_s is not None:
            self.limiter.pause(result.retry_after_s, key=chat_id)
        if not result.ok:
            log.warning("telegram_send_failed", status=reply.status, error=result.error)
        return result

    async def close(self) -> None:
        """Close the Bot API client."""
        await self.api.close()
