"""The parts of the analytics service beyond trading analytics, wired from the kernel:
business intelligence (``/api/v1/admin/analytics``), live-vs-backtest drift
(``/api/v1/analytics/drift``) and the live dashboards published for ``WS /ws/stream``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import APIRouter

from chainflow.analytics.bi.routes import build_bi_router
from chainflow.analytics.bi.service import BiService
from chainflow.analytics.drift.routes import build_drift_router
from chainflow.analytics.drift.service import DriftService
from chainflow.analytics.live.publisher import DashboardPublisher
from chainflow.analytics.service import AnalyticsService
from chainflow.backtest.model_source import ModelSource
from chainflow.ml.api import model_registry
from chainflow.runtime.analytics_sources import MeteredDays, ModelBacktester, PaperDeskDashboards
from chainflow.users.api import PlatformHistory, read_platform_history

if TYPE_CHECKING:
    from chainflow.ml.live.service import MlService
    from chainflow.runtime.kernel import Kernel
    from chainflow.trading.service import TradingService

Hook = Callable[[], Awaitable[None]]


class AnalyticsExtras:
    """BI, drift and live dashboards around the kernel's ``AnalyticsService``."""

    def __init__(
        self,
        kernel: Kernel,
        analytics: AnalyticsService,
        frames_subject: str,
        *,
        trading: TradingService | None,
        ml: MlService | None,
    ) -> None:
        infra = kernel.infra

        async def platform_history() -> PlatformHistory:
            return await read_platform_history(infra.database, kernel.clock)

        self.bi = BiService(
            store=infra.timeseries,
            bus=infra.bus,
            clock=kernel.clock,
            platform=platform_history,
            usage=MeteredDays(infra.timeseries),
            frames_subject=frames_subject,
        )
        models = ModelSource(
            model_registry(kernel.settings, infra.database, kernel.clock), kernel.settings.ml.model
        )
        self.drift = DriftService(
            analytics=analytics,
            store=infra.timeseries,
            backtester=ModelBacktester(
                models=models,
                database=infra.database,
                store=infra.timeseries,
                preferences=None if trading is None else trading.preferences_source.preferences,
            ),
        )
        self.dashboards: DashboardPublisher | None = None
        if trading is not None:
            self.dashboards = DashboardPublisher(
                bus=infra.bus,
                clock=kernel.clock,
                source=PaperDeskDashboards(trading, ml),
            )

    def mount(self, analytics_router: APIRouter) -> APIRouter:
        """Return one router with ``analytics_router`` and the BI and drift routes."""
        router = APIRouter()
        router.include_router(analytics_router)
        router.include_router(build_drift_router(service=self.drift))
        router.include_router(build_bi_router(service=self.bi))
        return router

    def start_after(self, start: Hook) -> Hook:
        async def started() -> None:
            await start()
            await self.bi.start()
            if self.dashboards is not None:
                await self.dashboards.start()

        return started

    def stop_before(self, stop: Hook) -> Hook:
        async def stopped() -> None:
            if self.dashboards is not None:
                await self.dashboards.stop()
            await self.bi.stop()
            await stop()

        return stopped
