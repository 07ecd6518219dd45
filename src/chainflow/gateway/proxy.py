"""Route requests for services that run in another process to an instance of them.

The composition root gives the gateway, for each such service, its path prefix and a
``discover`` function (backed by the hub's registry). Requests are forwarded round-robin;
an instance that refuses the connection is skipped for the next one, and when none answers
the caller gets ``503 dependency_unavailable``.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from chainflow.core.errors import DependencyUnavailable

DiscoverUrls = Callable[[str], Awaitable[Sequence[str]]]

# Hop-by-hop headers (RFC 9110 section 7.6.1) are never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def build_proxy_router(
    *, service: str, prefix: str, discover: DiscoverUrls, client: httpx.AsyncClient
) -> APIRouter:
    """Forward every request under ``prefix`` to a live instance of ``service``."""
    router = APIRouter()
    turn = itertools.count()

    async def forward(request: Request, path: str) -> Response:
        urls = list(await discover(service))
        if not urls:
            raise DependencyUnavailable(
                f"service {service!r} must have a live instance in the registry; found none"
            )
        start = next(turn) % len(urls)
        body = await request.body()
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        headers.append(("x-forwarded-for", request.client.host if request.client else ""))
        last_error: Exception | None = None
        for base in urls[start:] + urls[:start]:
            target = f"{base.rstrip('/')}{prefix}/{path}"
            try:
                upstream = await client.request(
                    request.method,
                    target,
                    params=tuple(request.query_params.multi_items()),
                    content=body,
                    headers=headers,
                )
            except httpx.TransportError as e:
                last_error = e
                continue
            return Response(
                content=upstream.content,
                status_code=upstream.status_code,
                headers={
                    k: v
                    for k, v in upstream.headers.items()
                    if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"
                },
            )
        raise DependencyUnavailable(
            f"no instance of service {service!r} answered ({len(urls)} tried); "
            f"last error: {type(last_error).__name__}: {last_error}"
        )

    router.add_api_route(
        prefix + "/{path:path}",
        forward,
        methods=_METHODS,
        include_in_schema=False,
        name=f"proxy_{service}",
    )
    return router
