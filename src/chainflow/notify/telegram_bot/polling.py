"""Receive bot updates by ``getUpdates`` long polling, in one background task.

The webhook is removed first (Telegram refuses ``getUpdates`` while one is set). Each
update is handled before the next offset is requested, so a crash redelivers at most the
batch in hand; a failed call waits ``retry_s`` and polls again.
"""

from __future__ import annotations

import asyncio
import contextlib

from chainflow.core.errors import DependencyUnavailable
from chainflow.core.logging import get_logger
from chainflow.notify.channels.telegram_api import TelegramBotApi
from chainflow.notify.telegram_bot.updates import TelegramUpdates

__all__ = ["UpdatePoller"]

log = get_logger("chainflow.notify.telegram_bot.polling")


class UpdatePoller:
    """Long-polls ``getUpdates`` and hands each update to ``TelegramUpdates``."""

    def __init__(
        self,
        *,
        api: TelegramBotApi,
        updates: TelegramUpdates,
        timeout_s: int,
        retry_s: float = 5.0,
    ) -> None:
        self._api = api
        self._updates = updates
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._offset = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="notify.telegram_poll")

    async def stop(self) -> None:
        """Stop polling and wait for the task to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Poll until cancelled."""
        await self._call_quietly("deleteWebhook", {"drop_pending_updates": False})
        while True:
            handled = await self.poll_once()
            if handled is None:
                await asyncio.sleep(self._retry_s)

    async def poll_once(self) -> int | None:
        """Fetch and handle one batch; return its size, or None when the call failed."""
        payload = {
            "offset": self._offset,
            "timeout": self._timeout_s,
            "allowed_updates": ["message", "callback_query"],
        }
        try:
            reply = await self._api.call("getUpdates", payload, timeout_s=self._timeout_s + 10)
        except DependencyUnavailable as exc:
            log.warning("telegram_poll_failed", error=exc.message)
            return None
        if not reply.ok or not isinstance(reply.result, list):
            log.warning("telegram_poll_refused", status=reply.status, error=reply.description)
            return None
        for update in reply.result:
            self._offset = max(self._offset, int(update.get("update_id", 0)) + 1)
            try:
                await self._updates.handle(update)
            except Exception as exc:  # one bad update must not stop the bot
                log.exception("telegram_update_failed", error=type(exc).__name__)
        return len(reply.result)

    async def _call_quietly(self, method: str, payload: dict[str, object]) -> None:
        try:
            await self._api.call(method, payload)
        except DependencyUnavailable as exc:
            log.warning("telegram_call_failed", method=method, error=exc.message)
