"""``/api/v1/notifications/telegram``: link a chat, see the link, and the bot's webhook.

- ``POST /link`` (signed in): a one-time ``t.me/<bot>?start=<code>`` link for the caller;
- ``GET /link``: whether the caller's chat is linked, enabled and muted;
- ``POST /webhook``: updates from Telegram, accepted only with the configured
  ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header
from pydantic import BaseModel

from chainflow.core.auth import Permission, Principal
from chainflow.core.settings import NotifySettings
from chainflow.gateway.api import require_permission
from chainflow.notify.telegram_bot.errors import TelegramNotConfiguredError, WebhookSecretError
from chainflow.notify.telegram_bot.linking import TelegramLinks
from chainflow.notify.telegram_bot.updates import TelegramUpdates

__all__ = ["build_telegram_router"]

Member = Annotated[Principal, Depends(require_permission(Permission.PROFILE_READ))]


class TelegramLinkRead(BaseModel):
    url: str
    expires_at: datetime


class TelegramBindingRead(BaseModel):
    linked: bool
    enabled: bool = False
    muted_until: datetime | None = None


def build_telegram_router(
    *, links: TelegramLinks, updates: TelegramUpdates | None, settings: NotifySettings
) -> APIRouter:
    """Return the router; mount it under ``/api/v1`` beside the notifications router."""
    router = APIRouter(prefix="/notifications/telegram", tags=["notifications"])
    secret = settings.telegram_webhook_secret.get_secret_value().encode()

    @router.post("/link", status_code=201, summary="A one-time link that connects your Telegram")
    async def create_link(principal: Member) -> TelegramLinkRead:
        if not settings.telegram_bot_username:
            raise TelegramNotConfiguredError(
                "Telegram linking needs CHAINFLOW_NOTIFY_TELEGRAM_BOT_USERNAME; it is not set"
            )
        issued = await links.issue(
            principal.tenant, user_id=str(principal.user_id), role=principal.role.value
        )
        return TelegramLinkRead(url=issued.url, expires_at=issued.expires_at)

    @router.get("/link", summary="Whether your Telegram chat is linked")
    async def get_link(principal: Member) -> TelegramBindingRead:
        binding = await links.binding_for_user(principal.tenant, str(principal.user_id))
        if binding is None:
            return TelegramBindingRead(linked=False)
        return TelegramBindingRead(
            linked=True, enabled=binding.enabled, muted_until=binding.muted_until
        )

    @router.post("/webhook", summary="Bot updates from Telegram", include_in_schema=False)
    async def receive_update(
        update: Annotated[dict[str, Any], Body()],
        token: Annotated[str, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = "",
    ) -> dict[str, bool]:
        if not secret or not hmac.compare_digest(token.encode(), secret):
            raise WebhookSecretError(
                "expected the configured X-Telegram-Bot-Api-Secret-Token; received "
                + ("none" if not token else "a different one")
            )
        if updates is None:
            raise TelegramNotConfiguredError("the Telegram bot is not configured in this process")
        await updates.handle(update)
        return {"ok": True}

    return router
