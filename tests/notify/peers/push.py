"""Web Push service and FCM HTTP v1 look-alikes (one Starlette app) for loopback tests.

Web Push: ``POST /push/{id}`` checks the VAPID ``Authorization: vapid t=<jwt>,k=<key>``
(ES256, ``aud`` = this origin) and decrypts the ``aes128gcm`` body with the subscriber's
keys, as a browser would. Ids ``gone`` (410), ``throttled`` (429 once, ``Retry-After``),
``broken`` (503) misbehave.

FCM: ``POST /token`` verifies the service-account JWT (RS256, ``aud`` = the token URL) and
issues an access token; ``POST /v1/projects/{project}/messages:send`` checks it. Tokens
``dead-token`` (404 UNREGISTERED), ``bad-token`` (400 INVALID_ARGUMENT), ``busy``
(429 QUOTA_EXCEEDED) and ``down`` (503) misbehave.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RETRY_AFTER = 30
PROJECT = "chainflow-test"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """A browser's push subscription: its key pair and auth secret."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def subscription(self, endpoint: str) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}


def service_account(token_url: str) -> tuple[dict[str, str], rsa.RSAPublicKey]:
    """Return a fresh service-account JSON document and its public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    document = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": "notify@chainflow-test.iam.gserviceaccount.com",
        "token_uri": token_url,
    }
    return document, key.public_key()


@dataclass
class PushPeer:
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    fcm_public_key: rsa.RSAPublicKey | None = None
    delivered: list[dict[str, Any]] = field(default_factory=list)
    fcm_sent: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    access_tokens: set[str] = field(default_factory=set)
    throttled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/push/{sub_id}", self._push, methods=["POST"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self._fcm_send, methods=["POST"]),
            ]
        )

    # --- Web Push -----------------------------------------------------------------------
    async def _push(self, request: Request) -> Response:
        sub_id = request.path_params["sub_id"]
        if sub_id == "gone":
            return Response("push subscription has unsubscribed or expired.", status_code=410)
        if sub_id == "broken":
            return Response("unavailable", status_code=503)
        if sub_id == "throttled" and sub_id not in self.throttled:
            self.throttled.add(sub_id)
            return Response("slow down", status_code=429, headers={"Retry-After": str(RETRY_AFTER)})
        claims = self._check_vapid(request.headers.get("authorization", ""))
        if claims is None:
            return Response("bad VAPID", status_code=401)
        subscriber = self.subscribers.get(sub_id)
        if subscriber is None:
            return Response("no such subscription", status_code=404)
        if request.headers.get("content-encoding") != "aes128gcm":
            return Response("expected aes128gcm", status_code=400)
        plain = http_ece.decrypt(
            await request.body(),
            private_key=subscriber.private_key,
            auth_secret=subscriber.auth,
            version="aes128gcm",
        )
        record = {
            "sub_id": sub_id,
            "payload": json.loads(plain),
            "claims": claims,
            "ttl": request.headers.get("ttl"),
            "urgency": request.headers.get("urgency"),
        }
        with self.lock:
            self.delivered.append(record)
        return Response(status_code=201, headers={"Location": f"{self.base_url}/msg/{sub_id}"})

    def _check_vapid(self, header: str) -> dict[str, Any] | None:
        if not header.startswith("vapid "):
            return None
        fields = dict(part.split("=", 1) for part in header[6:].split(","))
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64url_decode(fields["k"].strip())
        )
        try:
            token = fields["t"].strip()
            return jwt.decode(token, public, algorithms=["ES256"], audience=self.base_url)
        except jwt.PyJWTError:
            return None

    # --- FCM ----------------------------------------------------------------------------
    async def _token(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.fcm_public_key,
                algorithms=["RS256"],
                audience=f"{self.base_url}/token",
            )
        except jwt.PyJWTError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, 400)
        if "firebase.messaging" not in claims.get("scope", ""):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.token_requests += 1
            self.access_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def _fcm_send(self, request: Request) -> JSONResponse:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.access_tokens:
            return _fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")
        message = (await request.json())["message"]
        token = message.get("token")
        if token == "dead-token":
            return _fcm_error(404, "NOT_FOUND", "UNREGISTERED")
        if token == "bad-token":
            return _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
        if token == "down":
            return _fcm_error(503, "UNAVAILABLE", "UNAVAILABLE")
        if token == "busy":
            response = _fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
            response.headers["Retry-After"] = str(RETRY_AFTER)
            return response
        with self.lock:
            self.fcm_sent.append(message)
            name = f"projects/{request.path_params['project']}/messages/{len(self.fcm_sent)}"
        return JSONResponse({"name": name})


def _fcm_error(status: int, grpc_status: str, code: str) -> JSONResponse:
    detail = {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
    body = {"error": {"code": status, "message": code, "status": grpc_status, "details": [detail]}}
    return JSONResponse(body, status_code=status)
