"""Document in OpenAPI the error answers each operation really gives.

FastAPI documents an operation's success and, when it has parameters, a 422 in FastAPI's own
validation-error shape. The gateway answers every error as ``{"error": {"code", "message",
"details"}}`` (DESIGN.md section 4) and adds answers of its own, so ``install_error_responses``
makes ``app.openapi()`` add to each operation, in that shape:

- 401, 403 and 429 when it requires credentials (it declares the bearer security scheme):
  bad credentials, a missing permission, scope or tier feature, the tenant's rate limit;
- 401, 403, 409 and 429 on the credential exchanges under ``/api/v1/auth/`` that need none
  (wrong password, unverified or disabled account, reused token, sign-in throttling);
- 422 when it takes parameters or a body, 400 and 413 when it takes a body (unreadable,
  larger than the gateway's limit), 404 when it names a resource (a path parameter or a
  required query parameter such as ``symbol``);
- 409 when it changes state (POST, PUT, PATCH, DELETE) and requires credentials.

Responses a route declares itself (``responses=`` on the route) are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Machine code, e.g. invalid_input"},
                "message": {"type": "string", "description": "What was expected and received"},
                "details": {"description": "Structured details (field errors, limits, ...)"},
            },
        }
    },
}
CREDENTIAL_EXCHANGE_PREFIX = "/api/v1/auth/"

_DESCRIPTIONS = {
    400: "The request body could not be read",
    401: "Credentials are missing, invalid or expired",
    403: "The caller lacks the permission, scope or tier feature this needs",
    404: "The resource named by the path does not exist (for this tenant)",
    409: "The request conflicts with the current state",
    413: "The request body is larger than the limit",
    422: "The request did not match the expected schema",
    429: "Too many requests; retry after Retry-After seconds",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_WRITE_METHODS = ("put", "post", "delete", "patch")
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install_error_responses(app: FastAPI) -> None:
    """Make ``app.openapi()`` document every operation's error answers (see the module)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_error_responses(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers to each operation of ``schema`` (in place); return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in _METHODS:
                _document_operation(path, method, operation)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f'"#/components/schemas/{name}"' not in json.dumps(schema):
            components.pop(name, None)
    return schema


def _document_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(set(_error_statuses(path, method, operation))):
        declared = responses.get(str(status))
        if declared is None:
            responses[str(status)] = _error_response(status)
        elif _is_fastapi_validation_error(declared):
            responses[str(status)] = {**_error_response(status), **_without_content(declared)}


def _error_statuses(path: str, method: str, operation: dict[str, Any]) -> Iterable[int]:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    requires_credentials = bool(operation.get("security"))
    if requires_credentials:
        yield from (401, 403, 429)
        if method in _WRITE_METHODS:
            yield 409
    elif path.startswith(CREDENTIAL_EXCHANGE_PREFIX):
        yield from (401, 403, 409, 429)
    if parameters or has_body:
        yield 422
    if has_body:
        yield from (400, 413)
    if any(
        p.get("in") == "path" or (p.get("in") == "query" and p.get("required")) for p in parameters
    ):
        yield 404


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}
        },
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref") == "#/components/schemas/HTTPValidationError"


def _without_content(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k not in ("content", "description")}
