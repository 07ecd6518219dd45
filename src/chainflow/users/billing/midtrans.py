"""The Midtrans HTTP client: Snap transactions, Payment Links, Core API status and refunds,
card subscriptions (``/v1/subscriptions``), with Basic auth.

Every call authenticate with the server key as the user and an empty password. The base
URLs come from settings, so tests point them at a look-alike server on loopback. Nothing
here logs or echoes the key.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from chainflow.core.logging import get_logger
from chainflow.core.settings import BillingSettings
from chainflow.users.billing.errors import BillingNotConfiguredError, PaymentGatewayError

log = get_logger("chainflow.users.billing.midtrans")


@dataclass(frozen=True, slots=True)
class SnapTransaction:
    token: str
    redirect_url: str


@dataclass(frozen=True, slots=True)
class PaymentLink:
    """A Payment Link (``POST /v1/payment-links``): the page the payer opens to pay."""

    order_id: str
    payment_url: str


@dataclass(frozen=True, slots=True)
class ConfirmedStatus:
    """A transaction's status as the Core API reports it (the truth we act on)."""

    order_id: str
    status_code: str
    transaction_status: str
    fraud_status: str | None
    gross_amount: str
    payment_type: str | None
    transaction_id: str | None
    saved_token_id: str | None = None


@dataclass(frozen=True, slots=True)
class CardSubscription:
    """A Midtrans subscription (``POST /v1/subscriptions``) that charges a saved card."""

    subscription_id: str
    name: str
    status: str


# What Midtrans answers for a subscription it does not know (``/v1/subscriptions/{id}``).
SUBSCRIPTION_MISSING = "Subscription doesn't exist."


class MidtransClient:
    """Calls Snap and the Core API of the Midtrans environment named in settings."""

    def __init__(self, settings: BillingSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    @property
    def is_configured(self) -> bool:
        return bool(self._settings.server_key.get_secret_value())

    @property
    def server_key(self) -> str:
        return self._settings.server_key.get_secret_value()

    async def create_snap_transaction(self, payload: dict[str, Any]) -> SnapTransaction:
        """Create a Snap transaction; return its token and payment page URL."""
        url = f"{self._settings.snap_url.rstrip('/')}/transactions"
        body = await self._call("POST", url, json=payload, expected=(200, 201))
        token, redirect_url = body.get("token"), body.get("redirect_url")
        if not isinstance(token, str) or not isinstance(redirect_url, str):
            raise PaymentGatewayError(
                "expected Snap to answer a token and a redirect_url; it answered neither",
                details={"fields": sorted(body)},
            )
        return SnapTransaction(token=token, redirect_url=redirect_url)

    async def create_payment_link(self, payload: dict[str, Any]) -> PaymentLink:
        """Create a Payment Link; return its order id and payment URL."""
        body = await self._call(
            "POST", self._settings.payment_links_url, json=payload, expected=(200, 201)
        )
        order_id, payment_url = body.get("order_id"), body.get("payment_url")
        if not isinstance(order_id, str) or not isinstance(payment_url, str):
            raise PaymentGatewayError(
                "expected the Payment Link API to answer an order_id and a payment_url; "
                "it answered neither",
                details={"fields": sorted(body)},
            )
        return PaymentLink(order_id=order_id, payment_url=payment_url)

    async def transaction_status(self, order_id: str) -> ConfirmedStatus:
        """Return the Core API's current status of ``order_id``."""
        url = f"{self._settings.core_api_url.rstrip('/')}/{quote(order_id, safe='')}/status"
        body = await self._call("GET", url, expected=(200,))
        transaction_status = body.get("transaction_status")
        if not isinstance(transaction_status, str):
            raise PaymentGatewayError(
                f"expected the Core API status of order {order_id!r} to carry a "
                f"transaction_status; it answered status_code {body.get('status_code')!r}"
            )
        return ConfirmedStatus(
            order_id=str(body.get("order_id", "")),
            status_code=str(body.get("status_code", "")),
            transaction_status=transaction_status,
            fraud_status=_optional_text(body.get("fraud_status")),
            gross_amount=str(body.get("gross_amount", "")),
            payment_type=_optional_text(body.get("payment_type")),
            transaction_id=_optional_text(body.get("transaction_id")),
            saved_token_id=_optional_text(body.get("saved_token_id")),
        )

    async def refund(self, order_id: str, refund_key: str, amount_idr: int, reason: str) -> None:
        """Ask the Core API to refund ``amount_idr`` of ``order_id`` (``POST
        {core}/{order_id}/refund``); ``refund_key`` makes a retried request count once."""
        url = f"{self._settings.core_api_url.rstrip('/')}/{quote(order_id, safe='')}/refund"
        payload = {"refund_key": refund_key, "amount": amount_idr, "reason": reason[:255]}
        body = await self._call("POST", url, json=payload, expected=(200, 201))
        status_code = str(body.get("status_code", "200"))
        if status_code not in ("200", "201"):
            raise PaymentGatewayError(
                f"expected Midtrans to accept the refund of order {order_id!r}; it answered "
                f"status_code {status_code!r}: {str(body.get('status_message', ''))[:200]}",
                details={"gateway_status_code": status_code},
            )

    @property
    def subscriptions_url(self) -> str:
        """The Subscription API (``/v1/subscriptions``) lives beside the Payment Link API
        (``/v1/payment-links``) on the Core API host, sandbox or production alike."""
        return self._settings.payment_links_url.rstrip("/").rsplit("/", 1)[0] + "/subscriptions"

    async def create_subscription(
        self, payload: dict[str, Any], idempotency_key: str
    ) -> CardSubscription:
        """Create a card subscription; ``idempotency_key`` makes a retried call create one."""
        body = await self._call(
            "POST",
            self.subscriptions_url,
            json=payload,
            expected=(200, 201),
            headers={"Idempotency-Key": idempotency_key},
        )
        subscription_id, status = body.get("id"), body.get("status")
        if not isinstance(subscription_id, str) or not isinstance(status, str):
            raise PaymentGatewayError(
                "expected the Subscription API to answer an id and a status; it answered "
                f"{str(body.get('status_message', 'neither'))[:200]}",
                details={"fields": sorted(body)},
            )
        return CardSubscription(subscription_id, str(body.get("name", "")), status)

    async def update_subscription(self, subscription_id: str, payload: dict[str, Any]) -> None:
        """Change a subscription's amount or token (``PATCH /v1/subscriptions/{id}``)."""
        url = f"{self.subscriptions_url}/{quote(subscription_id, safe='')}"
        await self._call("PATCH", url, json=payload, expected=(200,))

    async def disable_subscription(self, subscription_id: str) -> None:
        """Stop a subscription's future charges; one Midtrans does not know is stopped."""
        url = f"{self.subscriptions_url}/{quote(subscription_id, safe='')}/disable"
        try:
            await self._call("POST", url, expected=(200,))
        except PaymentGatewayError as e:
            details = e.details if isinstance(e.details, dict) else {}
            if details.get("gateway_message") != SUBSCRIPTION_MISSING:
                raise

    async def _call(
        self,
        method: str,
        url: str,
        *,
        expected: tuple[int, ...],
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if not self.is_configured:
            raise BillingNotConfiguredError(
                "billing needs a Midtrans server key (CHAINFLOW_BILLING_SERVER_KEY); none is set"
            )
        sent = {"Accept": "application/json", "Authorization": self._basic_auth()}
        sent.update(headers or {})
        try:
            response = await self._http.request(
                method, url, json=json, headers=sent, timeout=self._settings.request_timeout_s
            )
        except httpx.HTTPError as e:
            log.warning("midtrans_call_failed", method=method, url=url, error=type(e).__name__)
            raise PaymentGatewayError(
                f"expected Midtrans to answer {method} {url}; the call failed ({type(e).__name__})"
            ) from e
        if response.status_code not in expected:
            log.warning(
                "midtrans_call_refused", method=method, url=url, status=response.status_code
            )
            raise PaymentGatewayError(
                f"expected Midtrans to answer {method} {url} with "
                f"{' or '.join(map(str, expected))}; it answered {response.status_code}",
                details={
                    "gateway_status": response.status_code,
                    "gateway_message": _status_message(response),
                },
            )
        try:
            body = response.json()
        except ValueError as e:
            raise PaymentGatewayError(
                f"expected JSON from Midtrans for {method} {url}; received "
                f"{response.headers.get('content-type', 'no content type')}"
            ) from e
        if not isinstance(body, dict):
            raise PaymentGatewayError(
                f"expected a JSON object from Midtrans; received {type(body).__name__}"
            )
        return body

    def _basic_auth(self) -> str:
        credentials = base64.b64encode(f"{self.server_key}:".encode()).decode()
        return f"Basic {credentials}"


def _status_message(response: httpx.Response) -> str:
    """Return the ``status_message`` of a refusal, if its body has one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("status_message") if isinstance(body, dict) else None
    return message[:200] if isinstance(message, str) else ""


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
