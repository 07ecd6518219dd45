"""Errors of the Telegram bot and its linking endpoints."""

from __future__ import annotations

from chainflow.core.errors import Conflict, Forbidden, InvalidInput

__all__ = ["LinkCodeInvalidError", "TelegramNotConfiguredError", "WebhookSecretError"]


class LinkCodeInvalidError(InvalidInput):
    code = "telegram_link_code_invalid"


class TelegramNotConfiguredError(Conflict):
    code = "telegram_not_configured"


class WebhookSecretError(Forbidden):
    code = "telegram_webhook_secret_invalid"
