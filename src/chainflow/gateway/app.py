"""The gateway's FastAPI app factory: routers of enabled services, probes, metrics, errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from chainflow.core.errors import ConfigurationError
from chainflow.core.health import HealthReport
from chainflow.gateway.api import (
    Authenticator,
    MountedRouter,
    OverviewSource,
    RateLimiter,
    ReadinessProbe,
    WebSocketLimiter,
)
from chainflow.gateway.errors import install_error_handlers
from chainflow.gateway.metrics import HttpMetrics
from chainflow.gateway.middleware import RequestContextMiddleware
from chainflow.gateway.overview import build_overview_router
from chainflow.gateway.rate_limit import RATE_LIMIT_HEADERS, RateLimitHeadersMiddleware

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
) -> FastAPI:
    """Build the HTTP app: ``/health``, ``/ready``, ``/metrics`` and every service router.

    ``authenticator``, ``rate_limiter`` and ``websocket_limiter`` go on ``app.state``, where
    the auth dependencies of every route find them. ``overview_sources`` adds
    ``GET /api/v1/me/overview``, which needs the first two.
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
    app.add_middleware(RateLimitHeadersMiddleware)
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

    @app.get("/health", tags=["probes"], summary="Liveness: the process answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": version, "services": list(service_names)}

    @app.get("/ready", tags=["probes"], summary="Readiness: every configured backend answers")
    async def ready() -> JSONResponse:
        reports = await readiness()
        for report in reports:
            metrics.dependency_up.labels(report.name, report.backend).set(1 if report.ok else 0)
        body = _readiness_body(reports)
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/metrics", tags=["probes"], summary="Prometheus metrics", include_in_schema=True)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    for mounted in routers:
        app.include_router(
            mounted.router, prefix=mounted.prefix, tags=list(mounted.tags) or [mounted.service]
        )
    if overview_sources is not None:
        app.include_router(build_overview_router(overview_sources), prefix="/api/v1")
    return app


def _readiness_body(reports: Sequence[HealthReport]) -> dict[str, Any]:
    ok = all(r.ok for r in reports)
    return {
        "status": "ok" if ok else "unavailable",
        "checks": {r.name: r.to_dict() for r in reports},
    }
