"""Security headers on every HTTP response, error responses included.

The API answers JSON, so its content security policy allows nothing at all and no page may
frame it. The interactive docs (``/docs``, ``/redoc``) are HTML pages that load Swagger UI or
ReDoc from a CDN and start them with an inline script; they get a policy allowing exactly
that. Every response is ``Cache-Control: no-store`` unless its route chose otherwise: tokens,
API keys and tenant data must not be kept by browsers or shared caches.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
_CDN = "https://cdn.jsdelivr.net"
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' 'unsafe-inline' {_CDN}",
        f"style-src 'self' 'unsafe-inline' {_CDN} https://fonts.googleapis.com",
        "font-src https://fonts.gstatic.com",
        f"img-src 'self' data: {_CDN} https://fastapi.tiangolo.com",
        "connect-src 'self'",
        "worker-src blob:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
DOCS_PATHS = ("/docs", "/redoc")

_COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


def security_headers(path: str) -> dict[str, str]:
    """Return the security headers a response to ``path`` carries."""
    is_docs = any(path == p or path.startswith(p + "/") for p in DOCS_PATHS)
    policy = DOCS_CONTENT_SECURITY_POLICY if is_docs else API_CONTENT_SECURITY_POLICY
    return {**dict(_COMMON_HEADERS), "Content-Security-Policy": policy}


class SecurityHeadersMiddleware:
    """Add ``security_headers`` to each HTTP response; headers a route set itself are kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", []))}
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
