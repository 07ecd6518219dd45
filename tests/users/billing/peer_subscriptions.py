"""The Subscription API of the Midtrans look-alike (``/v1/subscriptions``): create (with an
``Idempotency-Key``), get, update (``PATCH``), disable; and the charges Midtrans makes on
schedule, which tests trigger with ``charge``.

Shapes follow docs.midtrans.com (Create/Disable Subscription) and the responses pinned in
Midtrans's own client tests: a created subscription answers ``id``, ``status: "active"``,
``amount`` as a string, ``schedule`` with ``next_execution_at``, ``transaction_ids``;
update and disable answer ``{"status_message": "Subscription is updated."}``; an unknown
id answers 404 ``{"status_message": "Subscription doesn't exist."}``. A charge is a card
transaction whose order id is the subscription's name and 10 digits ("Generated order ID
will contain subscription name and 10 digits of unique number"), optionally with the
``SUBS-`` prefix of notifications since August 2023.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.users.billing.midtrans_peer import MidtransPeer

UPDATED = {"status_message": "Subscription is updated."}
MISSING = {"status_message": "Subscription doesn't exist."}
RECOVERING = {
    "status_message": "Sorry, our system is recovering from unexpected issues. Please retry."
}
_NAME = re.compile(r"^[A-Za-z0-9\-_~.]{1,40}$")
_START_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
INTERVAL_UNITS = ("day", "week", "month")
PAYMENT_TYPES = ("credit_card", "gopay")


@dataclass
class PeerSubscription:
    subscription_id: str
    request: dict[str, Any]
    status: str = "active"
    charges: list[str] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.request["name"])

    @property
    def amount(self) -> int:
        return int(self.request["amount"])

    def answer(self) -> dict[str, Any]:
        schedule = dict(self.request["schedule"])
        schedule.setdefault("start_time", "")
        schedule["current_interval"] = len(self.charges)
        schedule["next_execution_at"] = schedule["start_time"]
        return {
            "id": self.subscription_id,
            "name": self.name,
            "amount": self.request["amount"],
            "currency": self.request["currency"],
            "created_at": "2026-11-27 10:00:00",
            "schedule": schedule,
            "status": self.status,
            "token": self.request["token"],
            "payment_type": self.request["payment_type"],
            "transaction_ids": list(self.charges),
            "metadata": dict(self.request.get("metadata") or {}),
            "customer_details": dict(self.request.get("customer_details") or {}),
        }


def subscription_problems(body: Any, saved_tokens: set[str]) -> list[str]:
    """Return what the Subscription API would refuse in a create request."""
    if not isinstance(body, dict):
        return ["request body must be a JSON object"]
    problems: list[str] = []
    if not _NAME.match(str(body.get("name", ""))):
        problems.append("subscription.name must be 1-40 letters, digits or - _ ~ .")
    amount = body.get("amount")
    if not isinstance(amount, str) or not amount.isdigit() or int(amount) < 1:
        problems.append("subscription.amount must be between 0.01 - 99999999999.00")
    if body.get("currency") != "IDR":
        problems.append("subscription.currency must be IDR")
    if body.get("payment_type") not in PAYMENT_TYPES:
        problems.append("subscription.payment_type must be credit_card or gopay")
    if body.get("token") not in saved_tokens:
        problems.append("subscription.token is invalid")
    schedule = body.get("schedule")
    if not isinstance(schedule, dict):
        return [*problems, "subscription.schedule is required"]
    if not isinstance(schedule.get("interval"), int) or schedule["interval"] < 1:
        problems.append("subscription.schedule.interval must be a positive integer")
    if schedule.get("interval_unit") not in INTERVAL_UNITS:
        problems.append("subscription.schedule.interval_unit must be day, week or month")
    start = schedule.get("start_time")
    if start is not None and not _START_TIME.match(str(start)):
        problems.append("subscription.schedule.start_time must be yyyy-MM-dd HH:mm:ss Z")
    return problems


class PeerSubscriptions:
    """The subscriptions the look-alike holds (thread-safe through the peer's lock)."""

    def __init__(self, peer: MidtransPeer, lock: threading.Lock) -> None:
        self._peer = peer
        self._lock = lock
        self.items: dict[str, PeerSubscription] = {}
        self.by_idempotency_key: dict[str, str] = {}
        self.create_requests: list[dict[str, Any]] = []
        self.disabled: list[str] = []
        self.failure_status: int | None = None
        self.disable_failure_status: int | None = None

    def only(self) -> PeerSubscription:
        """Return the one subscription made (tests with one tenant)."""
        [subscription] = self.items.values()
        return subscription

    def charge(self, subscription_id: str, *, subs_prefix: bool = False) -> str:
        """Charge the card as Midtrans does on schedule; return the charge's order id."""
        with self._lock:
            subscription = self.items[subscription_id]
            assert subscription.status == "active", "Midtrans charges active subscriptions only"
            digits = f"{secrets.randbelow(10**10):010d}"
            order_id = f"{subscription.name}-{digits}"
            if subs_prefix:
                order_id = f"SUBS-{order_id}"
            subscription.charges.append(order_id)
            amount, request = subscription.amount, subscription.request
        self._peer.add_card_transaction(order_id, amount, request)
        return order_id

    async def _create(self, request: Request) -> JSONResponse:
        if not self._peer.authorized(request):
            return JSONResponse({"status_message": "Access denied"}, status_code=401)
        body = await request.json()
        problems = subscription_problems(body, self._peer.saved_tokens)
        if problems:
            answer = {"status_message": "Bad request", "validation_messages": problems}
            return JSONResponse(answer, status_code=400)
        key = request.headers.get("idempotency-key")
        with self._lock:
            self.create_requests.append(body)
            if self.failure_status is not None:
                answer = {"status_message": "simulated failure"}
                return JSONResponse(answer, status_code=self.failure_status)
            if key is not None and key in self.by_idempotency_key:
                return JSONResponse(self.items[self.by_idempotency_key[key]].answer())
            subscription = PeerSubscription(str(uuid.uuid4()), body)
            self.items[subscription.subscription_id] = subscription
            if key is not None:
                self.by_idempotency_key[key] = subscription.subscription_id
            return JSONResponse(subscription.answer())

    async def _get(self, request: Request) -> JSONResponse:
        return self._with(request, lambda s: JSONResponse(s.answer()))

    async def _update(self, request: Request) -> JSONResponse:
        body = await request.json()

        def update(subscription: PeerSubscription) -> JSONResponse:
            subscription.updates.append(body)
            for name in ("name", "amount", "currency", "token"):
                if name in body:
                    subscription.request[name] = body[name]
            interval = (body.get("schedule") or {}).get("interval")
            if interval is not None:
                subscription.request["schedule"]["interval"] = interval
            return JSONResponse(UPDATED)

        return self._with(request, update)

    async def _disable(self, request: Request) -> JSONResponse:
        def disable(subscription: PeerSubscription) -> JSONResponse:
            if self.disable_failure_status is not None:
                return JSONResponse(RECOVERING, status_code=self.disable_failure_status)
            subscription.status = "inactive"
            self.disabled.append(subscription.subscription_id)
            return JSONResponse(UPDATED)

        return self._with(request, disable)

    def _with(
        self, request: Request, act: Callable[[PeerSubscription], JSONResponse]
    ) -> JSONResponse:
        if not self._peer.authorized(request):
            return JSONResponse({"status_message": "Access denied"}, status_code=401)
        with self._lock:
            subscription = self.items.get(request.path_params["subscription_id"])
            if subscription is None:
                return JSONResponse(MISSING, status_code=404)
            return act(subscription)

    def routes(self) -> list[Route]:
        path = "/v1/subscriptions/{subscription_id}"
        return [
            Route("/v1/subscriptions", self._create, methods=["POST"]),
            Route(path, self._get, methods=["GET"]),
            Route(path, self._update, methods=["PATCH"]),
            Route(f"{path}/disable", self._disable, methods=["POST"]),
        ]
