"""Build the data bridge from the kernel's infrastructure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from chainflow.analytics.api import dashboard_request_topic, dashboard_topic
from chainflow.bridge.market_routes import build_market_router
from chainflow.bridge.routes import build_bridge_router
from chainflow.bridge.service import BridgeService
from chainflow.bridge.stream import TenantFeed, build_stream_router
from chainflow.bridge.terminal_routes import build_terminal_router
from chainflow.bridge.terminals import TerminalRegistry
from chainflow.bridge.usage import UsageMeter
from chainflow.runtime.component import ServiceComponent
from chainflow.trading.api import connection_topic, signals_topic

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel


def build_bridge_component(kernel: Kernel) -> ServiceComponent:
    infra = kernel.infra
    service = BridgeService(
        clock=kernel.clock,
        store=infra.timeseries,
        database=infra.database,
        bus=infra.bus,
        settings=kernel.settings.bridge,
    )
    usage = UsageMeter(store=infra.timeseries, clock=kernel.clock)
    terminals = TerminalRegistry()  # this process's live /ws/ticks sessions
    ingest = build_bridge_router(
        feed_for=service.feed_for,
        store=infra.timeseries,
        bus=infra.bus,
        cache=infra.cache,
        clock=kernel.clock,
        usage=usage,
        connection_topic=connection_topic,  # the trading hot path's answers to each tick
        cpu_shares=kernel.cpu_shares,
        terminals=terminals,
    )
    router = APIRouter()
    router.include_router(ingest)  # /ws/ticks at the root, as DESIGN.md section 4 names it
    # /ws/stream; signals come from the trading engine, dashboards from analytics (above)
    dashboards = TenantFeed(dashboard_topic, current=dashboard_request_topic())
    stream = build_stream_router(
        bus=infra.bus, frame_topics=(signals_topic,), tenant_feeds=(dashboards,)
    )
    router.include_router(stream)
    market = build_market_router(
        store=infra.timeseries, clock=kernel.clock, usage=usage, service=service
    )
    router.include_router(market, prefix="/api/v1")
    router.include_router(build_terminal_router(terminals=terminals), prefix="/api/v1")

    async def start() -> None:
        await usage.start()
        await service.start()

    async def stop() -> None:
        await service.stop()
        await usage.stop()

    return ServiceComponent(
        name="bridge",
        router=router,
        on_start=start,
        on_stop=stop,
        mount_prefix="",
        parts={"bridge": service},
    )
