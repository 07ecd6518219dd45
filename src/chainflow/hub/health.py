"""Health aggregation across every registered process."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from chainflow.core.clock import Clock
from chainflow.core.health import ReadinessProbe
from chainflow.hub.api import ServiceInstance, ServiceRegistry


class ClusterHealth:
    """Ask every live instance in the registry for ``/ready`` and fold the answers."""

    def __init__(
        self,
        *,
        registry: ServiceRegistry,
        local_instance_id: str,
        local_readiness: ReadinessProbe,
        clock: Clock,
        http_client: httpx.AsyncClient,
        timeout_s: float = 2.0,
    ) -> None:
        self._http = http_client
        self._registry = registry
        self._local_instance_id = local_instance_id
        self._local_readiness = local_readiness
        self._clock = clock
        self._timeout_s = timeout_s

    async def collect(self) -> dict[str, Any]:
        instances = await self._registry.instances()
        results = await asyncio.gather(*(self._probe(i) for i in instances))
        if not any(r["instance_id"] == self._local_instance_id for r in results):
            results.append(await self._probe_local(None))
        services: dict[str, dict[str, Any]] = {}
        for result in results:
            for name in result["services"]:
                entry = services.setdefault(name, {"instances": 0, "ready": 0})
                entry["instances"] += 1
                entry["ready"] += 1 if result["ready"] else 0
        return {
            "status": "ok" if results and all(r["ready"] for r in results) else "degraded",
            "instances": sorted(results, key=lambda r: r["instance_id"]),
            "services": dict(sorted(services.items())),
        }

    async def _probe(self, instance: ServiceInstance) -> dict[str, Any]:
        if instance.instance_id == self._local_instance_id:
            return await self._probe_local(instance)
        base = _summary(instance, self._clock.now_ms())
        try:
            response = await self._http.get(
                instance.url.rstrip("/") + "/ready", timeout=self._timeout_s
            )
            body = response.json()
            base.update(ready=response.status_code == 200, checks=body.get("checks", {}))
        except (httpx.HTTPError, ValueError) as e:
            base.update(ready=False, error=f"{type(e).__name__}: {e}")
        return base

    async def _probe_local(self, instance: ServiceInstance | None) -> dict[str, Any]:
        reports = await self._local_readiness()
        base = (
            _summary(instance, self._clock.now_ms())
            if instance
            else {"instance_id": self._local_instance_id, "services": [], "url": None}
        )
        # Anyone may read cluster health: show what /ready shows an anonymous caller.
        checks = {r.name: r.to_public_dict() for r in reports}
        base.update(ready=all(r.ok for r in reports), checks=checks)
        return base


def _summary(instance: ServiceInstance, now_ms: int) -> dict[str, Any]:
    return {
        "instance_id": instance.instance_id,
        "services": list(instance.services),
        "url": instance.url,
        "heartbeat_age_ms": max(0, now_ms - instance.last_heartbeat_ms),
    }


def instances_payload(instances: Sequence[ServiceInstance]) -> list[dict[str, Any]]:
    return [i.to_dict() for i in instances]
