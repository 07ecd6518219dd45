"""A thin Telegram Bot API client: one JSON call per method, the reply decoded.

The bot token is part of every request path (``/bot<token>/<method>``), so it is masked in
httpx's log lines and in every error text this client produces; the client never logs
a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from chainflow.notify.channels.redaction import mask_secret_in_http_logs, redact_secret
from chainflow.notify.errors import ChannelNotConfiguredError, TelegramApiUnavailableError

__all__ = ["BotApiReply", "TelegramApiUnavailableError", "TelegramBotApi"]


@dataclass(frozen=True, slots=True)
class BotApiReply:
    """One decoded Bot API answer: ``{"ok", "result"}`` or ``{"ok": false, "error_code", ...}``."""

    status: int
    ok: bool
    result: Any = None
    description: str = ""
    retry_after_s: float | None = None
    migrate_to_chat_id: int | None = None


class TelegramBotApi:
    """Calls Bot API methods on ``base_url`` (the real API or a loopback look-alike)."""

    def __init__(
        self,
        *,
        token: SecretStr,
        base_url: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = token.get_secret_value()
        if not self._token:
            raise ChannelNotConfiguredError(
                "CHAINFLOW_NOTIFY_TELEGRAM_BOT_TOKEN is required for Telegram; received ''"
            )
        mask_secret_in_http_logs(self._token)
        self._client = httpx.AsyncClient(
            base_url=f"{base_url.rstrip('/')}/bot{self._token}/",
            timeout=timeout_s,
            transport=transport,
        )

    async def call(
        self, method: str, payload: dict[str, Any], *, timeout_s: float | None = None
    ) -> BotApiReply:
        """Call ``method`` with a JSON ``payload``; raise ``TelegramApiUnavailableError`` when
        the API cannot be reached or answers with something that is not a Bot API reply."""
        try:
            if timeout_s is None:
                response = await self._client.post(method, json=payload)
            else:
                response = await self._client.post(method, json=payload, timeout=timeout_s)
        except httpx.HTTPError as exc:
            reason = redact_secret(str(exc), self._token) or type(exc).__name__
            raise TelegramApiUnavailableError(
                f"Telegram {method} could not be sent: {type(exc).__name__}: {reason}"
            ) from None
        return self._decode(method, response)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _decode(self, method: str, response: httpx.Response) -> BotApiReply:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "ok" not in body:
            if response.status_code >= 500 or response.status_code == 429:
                status = response.status_code
                return BotApiReply(status=status, ok=False, description=f"HTTP {status}")
            raise TelegramApiUnavailableError(
                f"Telegram {method} answered HTTP {response.status_code} without a Bot API "
                'JSON body; expected {"ok": ...}'
            )
        parameters = body.get("parameters") or {}
        retry_after = parameters.get("retry_after")
        if retry_after is None and response.headers.get("Retry-After", "").isdigit():
            retry_after = int(response.headers["Retry-After"])
        return BotApiReply(
            status=response.status_code,
            ok=bool(body["ok"]),
            result=body.get("result"),
            description=str(body.get("description") or ""),
            retry_after_s=float(retry_after) if retry_after is not None else None,
            migrate_to_chat_id=parameters.get("migrate_to_chat_id"),
        )
