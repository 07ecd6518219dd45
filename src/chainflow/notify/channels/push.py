"""The push channel: Web Push (VAPID) for browsers and FCM HTTP v1 for apps, one channel.

``Message.address`` picks the transport: ``fcm:<registration token>`` goes to FCM, a JSON
subscription object (``{"endpoint", "keys"}``) to its Web Push service. A transport whose
credentials are not configured answers with a permanent failure naming the missing setting.
"""

from __future__ import annotations

import httpx

from chainflow.core.clock import Clock
from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message
from chainflow.notify.channels.fcm import FCM_ADDRESS_PREFIX, FcmSender
from chainflow.notify.channels.webpush import WebPushSender

__all__ = ["PushChannel"]


class PushChannel:
    """Routes each push message to FCM or Web Push by the form of its address."""

    name = "push"

    def __init__(
        self,
        settings: NotifySettings,
        *,
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(timeout=settings.push_timeout_s, transport=transport)
        self._webpush = (
            WebPushSender(settings, self._client, clock)
            if settings.webpush_vapid_private_key.get_secret_value()
            else None
        )
        self._fcm = (
            FcmSender(settings, self._client, clock)
            if settings.fcm_service_account_json.get_secret_value()
            else None
        )

    async def send(self, message: Message) -> DeliveryResult:
        """Send ``message`` through the transport its address names."""
        if message.address.startswith(FCM_ADDRESS_PREFIX):
            if self._fcm is None:
                return _unconfigured("CHAINFLOW_NOTIFY_FCM_SERVICE_ACCOUNT_JSON")
            return await self._fcm.send(message)
        if self._webpush is None:
            return _unconfigured("CHAINFLOW_NOTIFY_WEBPUSH_VAPID_PRIVATE_KEY")
        return await self._webpush.send(message)

    async def close(self) -> None:
        """Close the shared connection pool."""
        await self._client.aclose()


def _unconfigured(setting: str) -> DeliveryResult:
    return DeliveryResult(
        ok=False, permanent=True, error=f"push transport disabled: {setting} is not set"
    )
