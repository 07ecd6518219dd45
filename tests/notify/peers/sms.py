"""A Twilio-style SMS API look-alike (Starlette) for loopback tests.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` with HTTP basic auth and form fields
``To``/``From``/``Body`` answers 201 ``{"sid", "status": "queued"}``. Numbers behave by
value: ``INVALID`` 400 code 21211, ``UNSUBSCRIBED`` 400 code 21610, ``THROTTLED`` 429 with
``Retry-After`` once, ``BROKEN`` 500.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

INVALID = "+15005550001"
UNSUBSCRIBED = "+15005550009"
THROTTLED = "+15005550429"
BROKEN = "+15005550500"
RETRY_AFTER = 3


@dataclass
class SmsPeer:
    account_id: str
    auth_token: str
    sent: list[dict[str, str]] = field(default_factory=list)
    throttled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def app(self) -> Starlette:
        path = "/2010-04-01/Accounts/{account_id}/Messages.json"
        return Starlette(routes=[Route(path, self._create, methods=["POST"])])

    async def _create(self, request: Request) -> JSONResponse:
        expected = base64.b64encode(f"{self.account_id}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return _error(401, 20003, "Authenticate")
        if request.path_params["account_id"] != self.account_id:
            return _error(404, 20404, "The requested resource was not found")
        form = dict(parse_qsl((await request.body()).decode()))
        to = form.get("To", "")
        if not to or not form.get("Body") or not form.get("From"):
            return _error(400, 21604, "A 'To', 'From' and 'Body' parameter is required")
        if to == INVALID:
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to == UNSUBSCRIBED:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if to == BROKEN:
            return _error(500, 20500, "Internal Server Error")
        if to == THROTTLED and to not in self.throttled:
            self.throttled.add(to)
            response = _error(429, 20429, "Too Many Requests")
            response.headers["Retry-After"] = str(RETRY_AFTER)
            return response
        with self.lock:
            sid = f"SM{len(self.sent) + 1:032d}"
            self.sent.append({**form, "sid": sid})
        return JSONResponse({"sid": sid, "status": "queued", "to": to}, status_code=201)


def _error(status: int, code: int, message: str) -> JSONResponse:
    body = {"code": code, "message": message, "more_info": "", "status": status}
    return JSONResponse(body, status_code=status)
