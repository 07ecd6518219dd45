"""Web Push for browsers: the payload encrypted with pywebpush (RFC 8291, ``aes128gcm``) and
signed with VAPID (RFC 8292), posted with httpx to the subscription's push service.

``address`` is the browser's subscription as JSON: ``{"endpoint", "keys": {"p256dh",
"auth"}}``. Answers: 201 delivered; 404/410 the subscription is gone (permanent, binding
disabled); 429 retry after ``Retry-After``; other 4xx permanent; 401 and 5xx retryable.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from chainflow.core.clock import Clock
from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message

__all__ = ["WebPushSender", "load_vapid_key"]

VAPID_LIFETIME_S = 12 * 3600  # at most 24 h (RFC 8292 section 2)
URGENCY = {"critical": "high", "warning": "normal", "info": "low"}
GONE_STATUSES = frozenset({404, 410})


def load_vapid_key(private_key: str) -> Vapid02:
    """Return the VAPID signer of a PEM or base64url (raw or DER) P-256 private key."""
    text = private_key.strip()
    if text.startswith("-----BEGIN"):
        return Vapid02.from_pem(text.encode())
    return Vapid02.from_string(text)


class WebPushSender:
    """Encrypts and posts one notification to a browser's push service."""

    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient, clock: Clock) -> None:
        self._vapid = load_vapid_key(settings.webpush_vapid_private_key.get_secret_value())
        self._subject = settings.webpush_vapid_subject
        self._ttl_s = settings.webpush_ttl_s
        self._client = client
        self._clock = clock

    async def send(self, message: Message) -> DeliveryResult:
        """Deliver ``message`` to the subscription in ``message.address``."""
        try:
            subscription = json.loads(message.address)
            pusher = WebPusher(subscription)
            payload = json.dumps(_payload(message), separators=(",", ":")).encode()
            body = pusher.encode(payload, "aes128gcm")["body"]
            endpoint = str(subscription["endpoint"])
        except (ValueError, KeyError, TypeError, WebPushException) as exc:
            error = f"expected a Web Push subscription JSON with endpoint and keys; {exc}"
            return DeliveryResult(ok=False, permanent=True, disable_binding=True, error=error)
        headers = {
            "TTL": str(self._ttl_s),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Urgency": URGENCY.get(message.severity, "normal"),
            **self._vapid_headers(endpoint),
        }
        try:
            response = await self._client.post(endpoint, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"push service unreachable: {type(exc).__name__}")
        return _classify(response)

    def _vapid_headers(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": self._clock.now_ms() // 1000 + VAPID_LIFETIME_S,
            "sub": self._subject,
        }
        return dict(self._vapid.sign(claims))


def _payload(message: Message) -> dict[str, Any]:
    return {
        "title": message.subject,
        "body": message.text,
        "severity": message.severity,
        "tag": message.idempotency_key,
        "data": dict(message.metadata),
    }


def _classify(response: httpx.Response) -> DeliveryResult:
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult(ok=True, provider_id=response.headers.get("Location"))
    error = f"web push {status}: {response.text[:200]}"
    if status in GONE_STATUSES:
        return DeliveryResult(ok=False, permanent=True, disable_binding=True, error=error)
    if status == 429:
        raw = response.headers.get("Retry-After", "")
        retry_after = float(raw) if raw.replace(".", "", 1).isdigit() else 60.0
        return DeliveryResult(ok=False, retry_after_s=retry_after, error=error)
    if 400 <= status < 500 and status != 401:
        return DeliveryResult(ok=False, permanent=True, error=error)
    return DeliveryResult(ok=False, error=error)
