"""The gateway's FastAPI app factory: routers of enabled services, probes, metrics, errors.

Middleware, outermost first: security headers, request id and metrics, CORS, the body
limit, the rate-limit headers. So a 413 from the body limit still carries a request id,
CORS and security headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CollectorRegistry

from chainflow.core.errors import ConfigurationError
from chainflow.gateway.api import MountedRouter, OverviewSource, ReadinessProbe
from chainflow.gateway.auth import Authenticator
from chainflow.gateway.body_limit import BodyLimitMiddleware, BodyLimits
from chainflow.gateway.errors import install_error_handlers
from chainflow.gateway.metrics import HttpMetrics
from chainflow.gateway.middleware import RequestContextMiddleware
from chainflow.gateway.openapi_responses import install_error_responses
from chainflow.gateway.overview import build_overview_router
from chainflow.gateway.probes import ReadinessInfo, build_probe_router
from chainflow.gateway.rate_limit import RATE_LIMIT_HEADERS, RateLimiter, RateLimitHeadersMiddleware
from chainflow.gateway.route_index import branch_of
from chainflow.gateway.security_headers import SecurityHeadersMiddleware
from chainflow.gateway.webapp import build_webapp_router
from chainflow.gateway.websocket_limit import WebSocketLimiter

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def create_gateway(
    *,
    title: str,
    version: str,
    routers: Sequence[MountedRouter],
    readiness: ReadinessProbe,
    metrics_registry: CollectorRegistry,
    cors_origins: Sequence[str] = (),
    lifespan: Lifespan | None = None,
    service_names: Sequence[str] = (),
    authenticator: Authenticator | None = None,
    rate_limiter: RateLimiter | None = None,
    websocket_limiter: WebSocketLimiter | None = None,
    overview_sources: Mapping[str, OverviewSource] | None = None,
    body_limits: BodyLimits | None = None,
    readiness_info: ReadinessInfo | None = None,
) -> FastAPI:
    """Build the HTTP app: ``/health``, ``/ready``, ``/metrics`` and every service router.

    ``authenticator``, ``rate_limiter`` and ``websocket_limiter`` go on ``app.state``, where
    the auth dependencies of every route find them. ``overview_sources`` adds
    ``GET /api/v1/me/overview``, which needs the first two. ``body_limits`` bounds request
    bodies (1 MiB and 32 levels of JSON nesting by default).
    """
    if overview_sources is not None and (authenticator is None or rate_limiter is None):
        raise ConfigurationError(
            "create_gateway must receive an authenticator and a rate_limiter to serve "
            "/api/v1/me/overview; received overview_sources without them"
        )
    app = FastAPI(
        title=title,
        version=version,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.authenticator = authenticator
    app.state.rate_limiter = rate_limiter
    app.state.websocket_limiter = websocket_limiter
    metrics = HttpMetrics(metrics_registry)
    install_error_handlers(app)
    install_error_responses(app)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, limits=body_limits or BodyLimits())
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", *RATE_LIMIT_HEADERS],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(
        build_probe_router(
            version=version,
            service_names=service_names,
            readiness=readiness,
            metrics=metrics,
            metrics_registry=metrics_registry,
            readiness_info=readiness_info,
        )
    )
    # Each router below is a branch that a path outside its routes skips at once
    # (route_index); the probes stay first and unwrapped.
    app.include_router(branch_of(build_webapp_router(), prefix="", tags=[]))
    for mounted in routers:
        tags = list(mounted.tags) or [mounted.service]
        app.include_router(branch_of(mounted.router, prefix=mounted.prefix, tags=tags))
    if overview_sources is not None:
        overview = build_overview_router(overview_sources)
        app.include_router(branch_of(overview, prefix="/api/v1", tags=[]))
    return app
