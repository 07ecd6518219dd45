"""The app factory: the gateway app with the routers of every service enabled here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from chainflow import __version__
from chainflow.gateway.api import MountedRouter
from chainflow.gateway.app import create_gateway
from chainflow.gateway.body_limit import BodyLimits
from chainflow.gateway.proxy import build_proxy_router
from chainflow.runtime.drain import DrainMiddleware
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.model_readiness import model_readiness
from chainflow.runtime.services import SERVICES


def create_app(kernel: Kernel) -> FastAPI:
    """Build the HTTP app of ``kernel``; its lifespan starts the kernel if not yet running."""
    kernel.build()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_lifecycle = not kernel.is_running
        if owns_lifecycle:
            await kernel.start()
        app.state.kernel = kernel
        try:
            yield
        finally:
            if owns_lifecycle:
                await kernel.stop()

    app = create_gateway(
        title="ChainFlow",
        version=__version__,
        routers=[*kernel.routers(), *_remote_routes(kernel)],
        readiness=kernel.readiness,
        metrics_registry=kernel.metrics_registry,
        cors_origins=kernel.settings.http.cors_origins,
        lifespan=lifespan,
        service_names=kernel.running_names,
        authenticator=kernel.authenticator,
        rate_limiter=kernel.rate_limiter,
        websocket_limiter=kernel.websocket_limiter,
        overview_sources=kernel.overview_sources(),
        body_limits=_body_limits(kernel),
        readiness_info=model_readiness(kernel),
    )
    # Outermost: once a SIGTERM begins the drain, new work is refused before anything runs.
    app.add_middleware(DrainMiddleware, drain=kernel.drain)
    return app


def _body_limits(kernel: Kernel) -> BodyLimits:
    http = kernel.settings.http
    return BodyLimits(
        default_bytes=http.max_body_bytes,
        by_path_prefix=dict(http.body_limits),
        max_json_depth=http.max_json_depth,
    )


def _remote_routes(kernel: Kernel) -> list[MountedRouter]:
    """When this process runs the gateway, route services running elsewhere to them."""
    if "gateway" not in kernel.enabled_names:
        return []

    async def discover(service: str) -> list[str]:
        instances = await kernel.infra.registry.discover(service)
        return [i.url for i in instances if i.instance_id != kernel.instance_id]

    return [
        MountedRouter(
            service=spec.name,
            router=build_proxy_router(
                service=spec.name, prefix=prefix, discover=discover, client=kernel.http_client
            ),
            prefix="",
        )
        for spec in SERVICES
        if spec.has_behaviour and spec.name not in kernel.enabled_names
        for prefix in spec.route_prefixes
    ]
