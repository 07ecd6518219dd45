"""The Midtrans HTTP client: Snap transactions, Core API status and refunds, with Basic auth.

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
class ConfirmedStatus:
    """A transaction's status as the Core API reports it (the truth we act on)."""

    order_id: str
    status_code: str
    transaction_status: str
    fraud_status: str | None
    gross_amount: str
    payment_type: str | None
    transaction_id: str | None


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

    async def _call(
        self, method: str, url: str, *, expected: tuple[int, ...], json: Any = None
    ) -> dict[str, Any]:
        if not self.is_configured:
            raise BillingNotConfiguredError(
                "billing needs a Midtrans server key (CHAINFLOW_BILLING_SERVER_KEY); none is set"
            )
        headers = {"Accept": "application/json", "Authorization": self._basic_auth()}
        try:
            response = await self._http.request(
                method, url, json=json, headers=headers, timeout=self._settings.request_timeout_s
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
                details={"gateway_status": response.status_code},
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


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
