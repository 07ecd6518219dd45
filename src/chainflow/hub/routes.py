"""HTTP routes of the hub: the registry view and cluster health (read-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from chainflow.hub.api import ServiceRegistry
from chainflow.hub.health import ClusterHealth
from chainflow.hub.schemas import ServiceInstanceOut, ServiceInstancesOut


def build_hub_router(*, registry: ServiceRegistry, cluster_health: ClusterHealth) -> APIRouter:
    router = APIRouter(prefix="/hub")

    @router.get("/services", response_model=ServiceInstancesOut, summary="Running instances")
    async def list_service_instances(
        service: str | None = Query(default=None, description="only instances hosting this"),
    ) -> ServiceInstancesOut:
        found = await (registry.discover(service) if service else registry.instances())
        return ServiceInstancesOut(
            items=[ServiceInstanceOut.model_validate(i.to_dict()) for i in found]
        )

    @router.get("/health", summary="Readiness of every registered instance")
    async def get_cluster_health() -> dict[str, Any]:
        return await cluster_health.collect()

    return router
