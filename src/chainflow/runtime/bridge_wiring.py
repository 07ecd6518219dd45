"""Build the data bridge from the kernel's infrastructure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainflow.bridge.routes import build_bridge_router
from chainflow.bridge.service import BridgeService
from chainflow.runtime.component import ServiceComponent

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel


def build_bridge_component(kernel: Kernel) -> ServiceComponent:
    infra = kernel.infra
    service = BridgeService(clock=kernel.clock)
    router = build_bridge_router(
        feed_for=service.feed_for,
        store=infra.timeseries,
        bus=infra.bus,
        cache=infra.cache,
        clock=kernel.clock,
    )
    return ServiceComponent(name="bridge", router=router, mount_prefix="")
