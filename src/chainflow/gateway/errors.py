"""One error handler: every failure leaves as ``{"error": {"code", "message", "details"}}``.

Also the gateway's own errors (authentication, authorization, limits). An error may carry
response ``headers`` (an optional attribute, e.g. the ``RateLimit-*`` headers of a 429);
the handler adds them. Every 401 carries ``WWW-Authenticate: Bearer`` (RFC 6750).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chainflow.core.errors import (
    ChainflowError,
    Forbidden,
    InvalidInput,
    RateLimited,
    TierLimitExceeded,
    Unauthenticated,
)
from chainflow.core.logging import get_logger
from chainflow.gateway.security_headers import security_headers

log = get_logger("chainflow.gateway")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


class MissingCredentialsError(Unauthenticated):
    code = "missing_credentials"


class ScopeDeniedError(Forbidden):
    code = "scope_denied"


class WebSocketLimitError(TierLimitExceeded):
    code = "websocket_limit"


class BodyTooLargeError(InvalidInput):
    """A request body was larger than its route accepts; it was not read further."""

    code = "body_too_large"
    status = 413


class JSONTooDeepError(InvalidInput):
    """A JSON request body nested deeper than the gateway accepts."""

    code = "invalid_schema"


class RateLimitExceededError(RateLimited):
    """A caller went over its tier's request quota; ``headers`` describe the quota."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float,
        headers: Mapping[str, str],
        details: Any = None,
    ) -> None:
        super().__init__(message, retry_after_s=retry_after_s, details=details)
        self.headers = dict(headers)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


async def _on_chainflow_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChainflowError)
    headers: dict[str, str] = {}
    extra_headers = getattr(exc, "headers", None)
    if isinstance(extra_headers, Mapping):
        headers.update({str(k): str(v) for k, v in extra_headers.items()})
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if exc.status >= 500:
        log.error("request_failed", code=exc.code, error=exc.message, path=request.url.path)
    return JSONResponse(exc.to_payload(), status_code=exc.status, headers=headers)


async def _on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg"), "type": err.get("type")}
        for err in exc.errors()
    ]
    return JSONResponse(
        error_body("invalid_input", "The request did not match the expected schema.", details),
        status_code=422,
    )


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    # Starlette sends this answer outside every middleware, so it adds their headers itself.
    headers = security_headers(request.url.path)
    request_id = getattr(request.state, "request_id", None)
    if isinstance(request_id, str):
        headers["X-Request-ID"] = request_id
    return JSONResponse(
        error_body("internal_error", "An unexpected error occurred; it has been logged."),
        status_code=500,
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Map ChainFlow errors, validation errors and HTTP errors to the DESIGN.md shape."""
    app.add_exception_handler(ChainflowError, _on_chainflow_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
