"""Handle one Telegram update (from ``getUpdates`` or the webhook): link or answer.

``/start <code>`` links the chat; any other text or inline-button press of a linked chat is
a command answered by ``BotCommands``; an unlinked chat is told how to link itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainflow.core.logging import get_logger
from chainflow.notify.channels.telegram import TelegramChannel
from chainflow.notify.telegram_bot.commands import HELP, BotCommands, BotReply
from chainflow.notify.telegram_bot.errors import LinkCodeInvalidError
from chainflow.notify.telegram_bot.linking import TelegramLinks

__all__ = ["TelegramUpdates"]

log = get_logger("chainflow.notify.telegram_bot")

NOT_LINKED = (
    "This chat is not linked to a ChainFlow account. Open the Telegram link from your "
    "ChainFlow notification settings."
)


class TelegramUpdates:
    """Turns updates into links and answers, sent back through the Telegram channel."""

    def __init__(
        self, *, links: TelegramLinks, commands: BotCommands, channel: TelegramChannel
    ) -> None:
        self._links = links
        self._commands = commands
        self._channel = channel

    async def handle(self, update: Mapping[str, Any]) -> None:
        """Process one update; ignore kinds the bot does not use."""
        parsed = _chat_and_text(update)
        if parsed is None:
            return
        chat_id, text, username = parsed
        callback = update.get("callback_query")
        if isinstance(callback, Mapping) and callback.get("id"):
            await self._channel.api.call(
                "answerCallbackQuery", {"callback_query_id": callback["id"]}
            )
        reply = await self._reply(chat_id, text, username)
        result = await self._channel.send_text(
            chat_id, reply.text, parse_mode="HTML", reply_markup=reply.reply_markup()
        )
        if not result.ok:
            log.warning("telegram_reply_failed", error=result.error)

    async def _reply(self, chat_id: str, text: str, username: str | None) -> BotReply:
        words = text.split()
        if words and words[0].split("@", 1)[0] == "/start":
            if len(words) < 2:
                return BotReply(HELP)
            try:
                await self._links.redeem(words[1], chat_id=chat_id, username=username)
            except LinkCodeInvalidError:
                return BotReply("This link is invalid or expired. Create a new one in ChainFlow.")
            return BotReply(
                "Linked. You will receive your ChainFlow notifications here.\n\n" + HELP
            )
        binding = await self._links.binding_for_chat(chat_id)
        if binding is None:
            return BotReply(NOT_LINKED)
        return await self._commands.answer(binding, text)


def _chat_and_text(update: Mapping[str, Any]) -> tuple[str, str, str | None] | None:
    callback = update.get("callback_query")
    if isinstance(callback, Mapping):
        message, text = callback.get("message"), callback.get("data")
        sender = callback.get("from")
    else:
        message = update.get("message")
        text = message.get("text") if isinstance(message, Mapping) else None
        sender = message.get("from") if isinstance(message, Mapping) else None
    if not isinstance(message, Mapping) or not isinstance(text, str) or not text.strip():
        return None
    chat = message.get("chat")
    if not isinstance(chat, Mapping) or chat.get("id") is None:
        return None
    username = sender.get("username") if isinstance(sender, Mapping) else None
    return str(chat["id"]), text.strip(), username
