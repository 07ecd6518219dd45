"""The web app at ``/app``: the built single-page app shipped inside the package.

``web/`` holds its TypeScript sources; ``npm ci && npm run build`` there writes the build
into the ``webapp`` folder next to this module (committed, so a ``pip install`` needs no
Node.js). Vite names every asset after its content hash, so ``/app/assets/*`` is cached for
a year as ``immutable``; ``index.html`` is ``no-cache`` (revalidated with its ETag) so that a
release is picked up at once. Any other ``/app/<route>`` answers ``index.html``: the app
routes on the client.

Links in e-mails name paths at the server's root (``/verify-email?token=...``,
``/reset-password?token=...``, ``/backtests/{id}``: the notify templates, under
``public_base_url``): those redirect to the same path under ``/app``, query kept, never
cached, no referrer.

Every page of the app gets a strict content security policy: scripts, styles, images and
fonts only from this origin (no inline script or style element, no CDN), network
connections only to this origin and its WebSocket endpoints, no framing, no plugins.
Text assets are gzipped once and kept in memory when the browser accepts gzip.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from chainflow.core.errors import DependencyUnavailable, NotFound

WEBAPP_DIR = Path(__file__).with_name("webapp")
BASE_PATH = "/app"
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CACHE_CONTROL = "no-cache"
GZIP_MIN_BYTES = 512
EMAIL_LINK_PATHS = ("/verify-email", "/reset-password", "/backtests/{job_id}")
"""Paths of the links in e-mails (``chainflow.notify`` templates), redirected into the app."""
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$")
_MEDIA_TYPES = {
    ".js": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".png": "image/png",
}


def content_security_policy(host: str | None) -> str:
    """Return the policy of the app's pages; ``host`` (the request's) names its WebSockets.

    ``'self'`` covers same-origin WebSockets in current browsers; the explicit ``ws:`` and
    ``wss:`` sources of the same host cover the others. A malformed host adds nothing.
    """
    connect = ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One built file, read once: its bytes, gzipped bytes (if worth it), type and ETag."""

    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


class WebAppFiles:
    """The built files under ``root``, loaded on first use and kept in memory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, StaticFile] = {}

    def get(self, relative: str) -> StaticFile | None:
        """Return the file at ``relative`` (``name`` or ``assets/name``), ``None`` if absent."""
        found = self._cache.get(relative)
        if found is not None:
            return found
        parts = relative.split("/")
        if len(parts) > 2 or not all(_FILE_NAME.match(part) for part in parts):
            return None
        path = self.root.joinpath(*parts)
        if not path.is_file():
            return None
        body = path.read_bytes()
        media_type = _MEDIA_TYPES.get(path.suffix) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        compressible = media_type.startswith(_COMPRESSIBLE) and len(body) >= GZIP_MIN_BYTES
        found = StaticFile(
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0) if compressible else None,
            media_type=media_type,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        )
        self._cache[relative] = found
        return found


def build_webapp_router(root: Path = WEBAPP_DIR) -> APIRouter:
    """Return the router serving the app at ``/app`` (hidden from the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)
    files = WebAppFiles(root)

    def page(request: Request) -> Response:
        index = files.get("index.html")
        if index is None:
            raise DependencyUnavailable(
                "expected the built web app in the package; it is missing: run "
                "`npm ci && npm run build` in web/"
            )
        return _answer(request, index, PAGE_CACHE_CONTROL)

    async def email_link(request: Request) -> Response:
        target = BASE_PATH + request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(
            target,
            status_code=307,
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
        )

    for path in EMAIL_LINK_PATHS:
        router.add_api_route(path, email_link, methods=["GET", "HEAD"])

    @router.api_route(BASE_PATH, methods=["GET", "HEAD"])
    async def app_root(request: Request) -> Response:
        return page(request)

    @router.api_route(BASE_PATH + "/assets/{name}", methods=["GET", "HEAD"])
    async def asset(request: Request, name: str) -> Response:
        found = files.get(f"assets/{name}")
        if found is None:
            raise NotFound(f"expected a built asset of the web app; there is no {name[:80]!r}")
        return _answer(request, found, ASSET_CACHE_CONTROL)

    @router.api_route(BASE_PATH + "/{route:path}", methods=["GET", "HEAD"])
    async def client_route(request: Request, route: str) -> Response:
        if route.startswith("assets/"):
            raise NotFound("expected a built asset of the web app; assets are not nested")
        if "/" not in route and route != "index.html":
            found = files.get(route)  # favicon.svg, build-info.json
            if found is not None:
                return _answer(request, found, PAGE_CACHE_CONTROL)
        return page(request)

    return router


def _answer(request: Request, found: StaticFile, cache_control: str) -> Response:
    headers = {
        "Cache-Control": cache_control,
        "ETag": found.etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if found.media_type.startswith("text/html"):
        headers["Content-Security-Policy"] = content_security_policy(request.headers.get("host"))
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if found.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and _accepts_gzip(request.headers.get("accept-encoding", "")):
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=found.media_type)
    return Response(content=body, headers=headers, media_type=found.media_type)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _accepts_gzip(header: str) -> bool:
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
