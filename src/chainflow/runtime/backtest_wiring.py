"""Build the backtest service from the kernel: asynchronous jobs on the stored bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainflow.backtest.model_source import ModelSource
from chainflow.backtest.routes import build_backtests_router
from chainflow.backtest.service import BacktestService
from chainflow.ml.api import model_registry
from chainflow.runtime.component import ServiceComponent

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel


def build_backtest_component(kernel: Kernel) -> ServiceComponent:
    infra = kernel.infra
    service = BacktestService(
        database=infra.database,
        store=infra.timeseries,
        clock=kernel.clock,
        config=kernel.settings.backtest,
        bus=infra.bus,
        models=ModelSource(
            model_registry(kernel.settings, infra.database, kernel.clock),
            kernel.settings.ml.model,
        ),
    )
    return ServiceComponent(
        name="backtest",
        router=build_backtests_router(service=service),
        on_start=service.start,
        on_stop=service.stop,
        parts={"backtest": service},
    )
