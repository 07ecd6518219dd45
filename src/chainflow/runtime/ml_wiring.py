"""Build the ml service from the kernel: for now its model registry and ``/api/v1/models``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainflow.ml.registry import local_model_registry
from chainflow.ml.registry_routes import build_registry_router
from chainflow.runtime.component import ServiceComponent

if TYPE_CHECKING:
    from chainflow.runtime.kernel import Kernel


def build_ml_component(kernel: Kernel) -> ServiceComponent:
    # Artifacts live under CHAINFLOW_HOME/models (CHAINFLOW_ML_ARTIFACTS_URL is planned).
    registry = local_model_registry(kernel.settings.home, kernel.clock)
    router = build_registry_router(registry=registry, database=kernel.infra.database)
    return ServiceComponent(name="ml", router=router)
