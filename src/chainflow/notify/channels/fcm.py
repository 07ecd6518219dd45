"""Firebase Cloud Messaging HTTP v1: an OAuth2 service-account token, then ``messages:send``.

The access token comes from the token endpoint (``fcm_token_url``) in exchange for a JWT
signed with the service account's RSA key (RFC 7523 ``jwt-bearer`` grant) and is cached
until a minute before it expires. ``address`` is ``fcm:<registration token>``. Answers:
200 delivered (``name`` is the provider id); ``UNREGISTERED``/``SENDER_ID_MISMATCH`` the
token is dead (permanent, binding disabled); other 400 permanent; 429 retry after
``Retry-After``; 401 drops the cached token and retries; 5xx retryable.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import jwt

from chainflow.core.clock import Clock
from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message

__all__ = ["FCM_ADDRESS_PREFIX", "FCM_SCOPE", "FcmSender"]

FCM_ADDRESS_PREFIX = "fcm:"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TOKEN_LIFETIME_S = 3600
TOKEN_MARGIN_S = 60
DEAD_TOKEN_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})


class FcmTokenError(Exception):
    """The token endpoint refused or could not be reached (the send is retryable)."""


class FcmSender:
    """Sends one notification to one FCM registration token."""

    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient, clock: Clock) -> None:
        account = json.loads(settings.fcm_service_account_json.get_secret_value())
        self._client_email = str(account["client_email"])
        self._private_key = str(account["private_key"])
        self._key_id = account.get("private_key_id")
        self._send_url = (
            f"{settings.fcm_base_url.rstrip('/')}/v1/projects/{account['project_id']}/messages:send"
        )
        self._token_url = settings.fcm_token_url
        self._client = client
        self._clock = clock
        self._token: str | None = None
        self._token_expires_s = 0.0
        self._token_lock = asyncio.Lock()

    async def send(self, message: Message) -> DeliveryResult:
        """Deliver ``message`` to the registration token in ``message.address``."""
        try:
            token = await self._access_token()
        except FcmTokenError as exc:
            return DeliveryResult(ok=False, error=str(exc))
        registration = message.address.removeprefix(FCM_ADDRESS_PREFIX)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = await self._client.post(
                self._send_url, json=_body(registration, message), headers=headers
            )
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"fcm unreachable: {type(exc).__name__}")
        if response.status_code == 401:
            self._token = None
        return _classify(response)

    async def _access_token(self) -> str:
        async with self._token_lock:
            now_s = self._clock.now_ms() / 1000.0
            if self._token is not None and now_s < self._token_expires_s - TOKEN_MARGIN_S:
                return self._token
            issued = int(now_s)
            claims = {
                "iss": self._client_email,
                "scope": FCM_SCOPE,
                "aud": self._token_url,
                "iat": issued,
                "exp": issued + TOKEN_LIFETIME_S,
            }
            headers = {"kid": self._key_id} if self._key_id else None
            assertion = jwt.encode(claims, self._private_key, algorithm="RS256", headers=headers)
            form = {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            }
            try:
                response = await self._client.post(self._token_url, data=form)
            except httpx.HTTPError as exc:
                raise FcmTokenError(
                    f"fcm token endpoint unreachable: {type(exc).__name__}"
                ) from None
            body = _json_or_empty(response)
            if response.status_code != 200 or "access_token" not in body:
                raise FcmTokenError(
                    f"fcm token endpoint answered {response.status_code} "
                    f"({body.get('error', 'no access_token')}); expected 200 with an access_token"
                )
            self._token = str(body["access_token"])
            self._token_expires_s = now_s + float(body.get("expires_in", TOKEN_LIFETIME_S))
            return self._token


def _body(registration: str, message: Message) -> dict[str, Any]:
    high = message.severity == "critical"
    return {
        "message": {
            "token": registration,
            "notification": {"title": message.subject, "body": message.text},
            "data": _data(message),
            "android": {"priority": "high" if high else "normal"},
            "apns": {"headers": {"apns-priority": "10" if high else "5"}},
        }
    }


def _data(message: Message) -> dict[str, str]:
    data = {key: str(value) for key, value in message.metadata.items()}
    data["severity"] = message.severity
    return data


def _classify(response: httpx.Response) -> DeliveryResult:
    body = _json_or_empty(response)
    status = response.status_code
    if status == 200:
        return DeliveryResult(ok=True, provider_id=body.get("name"))
    raw_error = body.get("error")
    error_body = raw_error if isinstance(raw_error, dict) else {}
    codes = {
        str(detail.get("errorCode"))
        for detail in error_body.get("details") or []
        if isinstance(detail, dict) and detail.get("errorCode")
    }
    error = f"fcm {status}: {error_body.get('status', '')} {error_body.get('message', '')}".strip()
    if codes & DEAD_TOKEN_CODES:
        return DeliveryResult(ok=False, permanent=True, disable_binding=True, error=error)
    if status == 429:
        raw = response.headers.get("Retry-After", "")
        retry_after = float(raw) if raw.isdigit() else 60.0
        return DeliveryResult(ok=False, retry_after_s=retry_after, error=error)
    if status in (400, 403, 404):
        return DeliveryResult(ok=False, permanent=True, error=error)
    return DeliveryResult(ok=False, error=error)


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
