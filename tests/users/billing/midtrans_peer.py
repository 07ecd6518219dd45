"""A Midtrans look-alike on loopback: Snap ``POST /snap/v1/transactions``, the Payment Link
API ``POST /v1/payment-links``, Core API ``GET /v2/{order_id}/status`` and ``POST
/v2/{order_id}/refund``, the Subscription API ``/v1/subscriptions`` (``peer_subscriptions``),
all behind Basic auth with the server key, and signed notifications for the webhook under
test. A card payment (``pay_by_card``) on a page that allowed saving the card carries a
``saved_token_id`` in its notification.

The tests set each transaction's status as Midtrans would hold it (``set_status``) and
deliver notifications (``deliver``); the status answer is what the app confirms against.
A Payment Link has no transaction until it is paid: its payment is a transaction named
after the link's order id with a suffix (``<order_id>-<seconds>``), as Midtrans names it;
``set_status``/``deliver`` given the link's order id act on that payment.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fixtures.loopback_server import serving_on_loopback
from tests.users.billing.peer_payment_links import payment_link_problems
from tests.users.billing.peer_subscriptions import PeerSubscriptions

NOTIFICATION_PATH = "/api/v1/billing/midtrans/notification"
# The status_code Midtrans sends with each transaction_status.
STATUS_CODES = {
    "capture": "200",
    "settlement": "200",
    "pending": "201",
    "authorize": "200",
    "deny": "202",
    "cancel": "200",
    "expire": "407",
    "refund": "200",
    "partial_refund": "200",
}


@dataclass
class PeerTransaction:
    order_id: str
    gross_amount: int
    request: dict[str, Any]
    transaction_status: str | None = None
    fraud_status: str | None = None
    payment_type: str = "bank_transfer"
    transaction_id: str = field(default_factory=lambda: secrets.token_hex(8))
    refunded: int = 0
    refund_keys: dict[str, int] = field(default_factory=dict)
    saved_token_id: str | None = None


@dataclass
class PeerPaymentLink:
    order_id: str
    gross_amount: int
    request: dict[str, Any]
    link_id: str = field(default_factory=lambda: secrets.token_hex(6))
    purchase_order_id: str | None = None


class MidtransPeer:
    """The look-alike's state (thread-safe: uvicorn serves it from another thread)."""

    def __init__(self, server_key: str) -> None:
        self.server_key = server_key
        self.base_url = ""
        self.transactions: dict[str, PeerTransaction] = {}
        self.snap_requests: list[dict[str, Any]] = []
        self.status_requests: list[str] = []
        self.rejected_auth = 0
        self.snap_failure_status: int | None = None
        self.refund_requests: list[dict[str, Any]] = []
        self.payment_links: dict[str, PeerPaymentLink] = {}
        self.payment_link_requests: list[dict[str, Any]] = []
        self.payment_link_failure_status: int | None = None
        self._lock = threading.Lock()
        self.saved_tokens: set[str] = set()
        self.subscriptions = PeerSubscriptions(self, self._lock)

    @property
    def snap_url(self) -> str:
        return f"{self.base_url}/snap/v1"

    @property
    def core_api_url(self) -> str:
        return f"{self.base_url}/v2"

    @property
    def payment_links_url(self) -> str:
        return f"{self.base_url}/v1/payment-links"

    @property
    def payment_page_url(self) -> str:
        """Where the payment pages of Payment Links live."""
        return f"{self.base_url}/payment-links"

    def sent(self, order_id: str) -> dict[str, Any]:
        """Return the body the app sent to create ``order_id``'s Snap page or Payment Link."""
        with self._lock:
            link = self.payment_links.get(order_id)
            if link is not None:
                return link.request
            return self.transactions[order_id].request

    def transaction_id_of(self, order_id: str) -> str:
        """Return the id of the transaction paying ``order_id``: the order id itself (Snap),
        or the Payment Link's purchase, made on first use as a payer would."""
        with self._lock:
            if order_id in self.transactions:
                return order_id
            link = self.payment_links[order_id]
            if link.purchase_order_id is None:
                purchase = f"{order_id}-{1_700_000_000 + len(self.transactions)}"
                link.purchase_order_id = purchase
                self.transactions[purchase] = PeerTransaction(
                    purchase, link.gross_amount, link.request
                )
            return link.purchase_order_id

    def pay_by_card(self, order_id: str, *, save: bool = True) -> str | None:
        """Make ``order_id``'s payment a card payment; when the payer ticks "save card" on a
        page whose request allowed it (``credit_card.save_card``), Midtrans saves the card
        and names it by a ``saved_token_id``, returned here."""
        order_id = self.transaction_id_of(order_id)
        with self._lock:
            transaction = self.transactions[order_id]
            transaction.payment_type = "credit_card"
            allowed = (transaction.request.get("credit_card") or {}).get("save_card") is True
            if save and allowed:
                transaction.saved_token_id = f"481111{secrets.token_hex(10)}1114"
                self.saved_tokens.add(transaction.saved_token_id)
            return transaction.saved_token_id

    def add_card_transaction(self, order_id: str, amount: int, request: dict[str, Any]) -> None:
        """Record a charge of a saved card (a subscription's), as yet without a status."""
        with self._lock:
            transaction = PeerTransaction(order_id, amount, request, payment_type="credit_card")
            self.transactions[order_id] = transaction

    def set_status(
        self,
        order_id: str,
        transaction_status: str,
        fraud_status: str | None = None,
        *,
        gross_amount: int | None = None,
    ) -> None:
        """Make the Core API report ``transaction_status`` for ``order_id`` from now on."""
        order_id = self.transaction_id_of(order_id)
        with self._lock:
            transaction = self.transactions[order_id]
            transaction.transaction_status = transaction_status
            transaction.fraud_status = fraud_status
            if gross_amount is not None:
                transaction.gross_amount = gross_amount

    def notification(
        self,
        order_id: str,
        transaction_status: str,
        fraud_status: str | None = None,
        *,
        signing_key: str | None = None,
    ) -> dict[str, Any]:
        """Return the body Midtrans would POST, signed with ``signing_key`` (default ours)."""
        order_id = self.transaction_id_of(order_id)
        with self._lock:
            transaction = self.transactions[order_id]
            gross_amount = f"{transaction.gross_amount}.00"
            transaction_id = transaction.transaction_id
            payment_type, token = transaction.payment_type, transaction.saved_token_id
        status_code = STATUS_CODES[transaction_status]
        key = self.server_key if signing_key is None else signing_key
        signature = hashlib.sha512(
            f"{order_id}{status_code}{gross_amount}{key}".encode()
        ).hexdigest()
        body: dict[str, Any] = {
            "transaction_time": "2026-11-27 10:00:00",
            "transaction_status": transaction_status,
            "transaction_id": transaction_id,
            "status_message": "midtrans payment notification",
            "status_code": status_code,
            "signature_key": signature,
            "payment_type": payment_type,
            "order_id": order_id,
            "merchant_id": "G000000000",
            "gross_amount": gross_amount,
            "currency": "IDR",
        }
        if fraud_status is not None:
            body["fraud_status"] = fraud_status
        if payment_type == "credit_card":
            body["masked_card"] = "48111111-1114"
        if token is not None:  # in the notification only, as the docs show
            body["saved_token_id"] = token
            body["saved_token_id_expired_at"] = "2030-12-31 07:00:00"
        return body

    async def deliver(
        self,
        client: httpx.AsyncClient,
        order_id: str,
        transaction_status: str,
        fraud_status: str | None = None,
        *,
        confirm: bool = True,
    ) -> httpx.Response:
        """POST a signed notification to the app; with ``confirm`` the Core API reports the
        same status first (as when Midtrans notifies a change it has just made)."""
        if confirm:
            self.set_status(order_id, transaction_status, fraud_status)
        body = self.notification(order_id, transaction_status, fraud_status)
        return await client.post(NOTIFICATION_PATH, json=body)

    # --- the HTTP side ---------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.server_key}:".encode()).decode()
        if request.headers.get("authorization") != expected:
            with self._lock:
                self.rejected_auth += 1
            return False
        return True

    async def _create_transaction(self, request: Request) -> JSONResponse:
        if not self.authorized(request):
            return JSONResponse({"error_messages": ["Access denied"]}, status_code=401)
        body = await request.json()
        details = body["transaction_details"]
        items_total = sum(item["price"] * item["quantity"] for item in body["item_details"])
        if details["gross_amount"] != items_total:
            return JSONResponse(
                {"error_messages": ["transaction_details.gross_amount is not equal to the sum"]},
                status_code=400,
            )
        with self._lock:
            self.snap_requests.append(body)
            if self.snap_failure_status is not None:
                return JSONResponse(
                    {"error_messages": ["simulated failure"]}, status_code=self.snap_failure_status
                )
            order_id = details["order_id"]
            if order_id in self.transactions:
                return JSONResponse(
                    {"error_messages": ["transaction_details.order_id has already been taken"]},
                    status_code=400,
                )
            self.transactions[order_id] = PeerTransaction(order_id, details["gross_amount"], body)
        token = secrets.token_hex(16)
        return JSONResponse(
            {"token": token, "redirect_url": f"{self.snap_url}/v4/redirection/{token}"},
            status_code=201,
        )

    async def _create_payment_link(self, request: Request) -> JSONResponse:
        """Create a Payment Link as the API does: 200 with ``order_id`` and ``payment_url``;
        400 with ``error_messages`` for a bad body or an order id taken before."""
        if not self.authorized(request):
            return JSONResponse({"error_messages": ["Access denied"]}, status_code=401)
        body = await request.json()
        problems = payment_link_problems(body)
        if problems:
            return JSONResponse({"error_messages": problems}, status_code=400)
        details = body["transaction_details"]
        order_id = details["order_id"]
        with self._lock:
            self.payment_link_requests.append(body)
            if self.payment_link_failure_status is not None:
                return JSONResponse(
                    {"error_messages": ["simulated failure"]},
                    status_code=self.payment_link_failure_status,
                )
            if order_id in self.payment_links or order_id in self.transactions:
                return JSONResponse(
                    {"error_messages": ["transaction_details.order_id has already been taken"]},
                    status_code=400,
                )
            link = PeerPaymentLink(order_id, details["gross_amount"], body)
            self.payment_links[order_id] = link
        return JSONResponse(
            {"order_id": order_id, "payment_url": f"{self.payment_page_url}/{link.link_id}"}
        )

    async def _status(self, request: Request) -> JSONResponse:
        if not self.authorized(request):
            return JSONResponse({"status_code": "401", "status_message": "denied"}, 401)
        order_id = request.path_params["order_id"]
        with self._lock:
            self.status_requests.append(order_id)
            transaction = self.transactions.get(order_id)
            if transaction is None or transaction.transaction_status is None:
                body = {"status_code": "404", "status_message": "Transaction doesn't exist."}
                return JSONResponse(body, status_code=404)
            status = transaction.transaction_status
            body = {
                "status_code": STATUS_CODES[status],
                "transaction_status": status,
                "order_id": order_id,
                "gross_amount": f"{transaction.gross_amount}.00",
                "currency": "IDR",
                "payment_type": transaction.payment_type,
                "transaction_id": transaction.transaction_id,
            }
            if transaction.fraud_status is not None:
                body["fraud_status"] = transaction.fraud_status
        return JSONResponse(body)

    async def _refund(self, request: Request) -> JSONResponse:
        """Refund a settled transaction as the Core API does: HTTP 200 with a body
        ``status_code`` (412 when it cannot be refunded); a repeated refund_key counts once."""
        if not self.authorized(request):
            return JSONResponse({"status_code": "401", "status_message": "denied"}, 401)
        order_id = request.path_params["order_id"]
        body = await request.json()
        with self._lock:
            self.refund_requests.append({"order_id": order_id, **body})
            transaction = self.transactions.get(order_id)
            refundable = ("settlement", "capture", "partial_refund")
            if transaction is None or transaction.transaction_status not in refundable:
                return JSONResponse({"status_code": "412", "status_message": "not refundable"})
            key, amount = str(body["refund_key"]), int(body["amount"])
            if key not in transaction.refund_keys:
                if amount > transaction.gross_amount - transaction.refunded:
                    return JSONResponse({"status_code": "412", "status_message": "too much"})
                transaction.refund_keys[key] = amount
                transaction.refunded += amount
            full = transaction.refunded >= transaction.gross_amount
            transaction.transaction_status = "refund" if full else "partial_refund"
            answer = {
                "status_code": "200",
                "status_message": "Success, refund request is approved",
                "order_id": order_id,
                "transaction_status": transaction.transaction_status,
                "refund_amount": f"{transaction.refund_keys[key]}.00",
                "refund_key": key,
            }
        return JSONResponse(answer)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/snap/v1/transactions", self._create_transaction, methods=["POST"]),
                Route("/v1/payment-links", self._create_payment_link, methods=["POST"]),
                Route("/v2/{order_id}/status", self._status, methods=["GET"]),
                Route("/v2/{order_id}/refund", self._refund, methods=["POST"]),
                *self.subscriptions.routes(),
            ]
        )


@contextmanager
def running_midtrans_peer(server_key: str) -> Iterator[MidtransPeer]:
    """Serve a ``MidtransPeer`` on a free loopback port for the block."""
    peer = MidtransPeer(server_key)
    with serving_on_loopback(peer.app()) as (host, port):
        peer.base_url = f"http://{host}:{port}"
        yield peer
