"""The SMS channel: a provider-agnostic HTTP adapter, Twilio's shape by default.

One form-encoded POST to ``sms_base_url + sms_messages_path`` (``{account_id}`` replaced)
with HTTP basic auth (account id, auth token) and the recipient, sender and text under
configurable field names. The answer's ``sms_id_field`` is the provider id. Errors:

- 429 (``Retry-After`` header, seconds): retry after it;
- 400/404/422: permanent; Twilio code 21610 (the recipient replied STOP) also disables
  the binding;
- 401/403: retryable (a credential problem the operator can fix without losing messages);
- 5xx, timeouts, connection errors: retryable.
"""

from __future__ import annotations

from typing import Any

import httpx

from chainflow.core.logging import get_logger
from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message
from chainflow.notify.errors import ChannelNotConfiguredError

__all__ = ["SmsChannel"]

log = get_logger("chainflow.notify.sms")

UNSUBSCRIBED_CODES = frozenset({21610})  # Twilio: "Attempt to send to unsubscribed recipient"
PERMANENT_STATUSES = frozenset({400, 404, 410, 422})


class SmsChannel:
    """Sends text messages; ``Message.address`` is the phone number in E.164 form."""

    name = "sms"

    def __init__(
        self, settings: NotifySettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if not settings.sms_from:
            raise ChannelNotConfiguredError(
                "CHAINFLOW_NOTIFY_SMS_FROM is required for SMS; received ''"
            )
        self._settings = settings
        path = settings.sms_messages_path.replace("{account_id}", settings.sms_account_id)
        self._url = settings.sms_base_url.rstrip("/") + path
        token = settings.sms_auth_token.get_secret_value()
        auth = httpx.BasicAuth(settings.sms_account_id, token) if settings.sms_account_id else None
        self._client = httpx.AsyncClient(
            timeout=settings.sms_timeout_s, auth=auth, transport=transport
        )

    async def send(self, message: Message) -> DeliveryResult:
        """Post ``message.text`` to the provider for ``message.address`` once."""
        s = self._settings
        text = (
            message.text
            if len(message.text) <= s.sms_max_chars
            else (message.text[: s.sms_max_chars - 1] + "…")
        )
        form = {
            s.sms_to_field: message.address,
            s.sms_from_field: s.sms_from,
            s.sms_body_field: text,
        }
        try:
            response = await self._client.post(self._url, data=form)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"sms provider unreachable: {type(exc).__name__}")
        result = self._classify(response)
        if not result.ok:
            log.warning("sms_send_failed", status=response.status_code, error=result.error)
        return result

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        body = _json_or_empty(response)
        status = response.status_code
        if 200 <= status < 300:
            provider_id = body.get(self._settings.sms_id_field)
            return DeliveryResult(
                ok=True, provider_id=None if provider_id is None else str(provider_id)
            )
        code = body.get("code")
        error = f"sms {status}: {body.get('message') or response.reason_phrase}"
        if code is not None:
            error = f"{error} (provider code {code})"
        if status == 429:
            return DeliveryResult(ok=False, retry_after_s=_retry_after(response), error=error)
        if code in UNSUBSCRIBED_CODES:
            return DeliveryResult(ok=False, permanent=True, disable_binding=True, error=error)
        if status in PERMANENT_STATUSES:
            return DeliveryResult(ok=False, permanent=True, error=error)
        return DeliveryResult(ok=False, error=error)


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return 1.0
