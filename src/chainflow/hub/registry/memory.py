"""In-process service registry: a dict of instances with expiry from the injected clock."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from chainflow.core.clock import Clock
from chainflow.core.health import HealthReport
from chainflow.hub.api import ServiceInstance
from chainflow.hub.registry import encode_instance, validate_ttl_s


@dataclass(slots=True)
class RegisteredInstance:
    instance: ServiceInstance
    expires_at_s: float


class InProcessRegistry:
    """The embedded ``ServiceRegistry``: instances live ``ttl_s`` past their last heartbeat.

    Every method runs without an ``await``, so it is atomic under asyncio.
    """

    backend = "memory"

    def __init__(self, clock: Clock, *, ttl_s: float) -> None:
        validate_ttl_s(ttl_s)
        self._clock = clock
        self._ttl_s = ttl_s
        self._registered: dict[str, RegisteredInstance] = {}

    async def close(self) -> None:
        """Forget every instance."""
        self._registered.clear()

    async def health(self) -> HealthReport:
        """Report the registry as healthy, with the number of live instances."""
        return HealthReport(
            name="registry",
            ok=True,
            backend=self.backend,
            extra={"instances": len(self._live())},
        )

    async def register(self, instance: ServiceInstance) -> None:
        """Record ``instance`` (replacing one with the same id) with a fresh heartbeat."""
        encode_instance(instance)
        fresh = dataclasses.replace(instance, last_heartbeat_ms=self._clock.now_ms())
        self._registered[instance.instance_id] = RegisteredInstance(fresh, self._expiry())

    async def heartbeat(self, instance_id: str) -> bool:
        """Extend the life of ``instance_id``; return False when it is unknown or expired."""
        registered = self._live().get(instance_id)
        if registered is None:
            return False
        registered.instance = dataclasses.replace(
            registered.instance, last_heartbeat_ms=self._clock.now_ms()
        )
        registered.expires_at_s = self._expiry()
        return True

    async def deregister(self, instance_id: str) -> None:
        """Forget ``instance_id``; forgetting an unknown instance does nothing."""
        self._registered.pop(instance_id, None)

    async def discover(self, service: str) -> list[ServiceInstance]:
        """Return the live instances hosting ``service``, oldest first."""
        return [i for i in await self.instances() if service in i.services]

    async def instances(self) -> list[ServiceInstance]:
        """Return every live instance, oldest first."""
        live = [r.instance for r in self._live().values()]
        return sorted(live, key=lambda i: (i.started_at_ms, i.instance_id))

    def _expiry(self) -> float:
        return self._clock.monotonic() + self._ttl_s

    def _live(self) -> dict[str, RegisteredInstance]:
        now_s = self._clock.monotonic()
        expired = [k for k, r in self._registered.items() if r.expires_at_s <= now_s]
        for instance_id in expired:
            del self._registered[instance_id]
        return self._registered
