"""What a built service hands the kernel: its router and its start/stop hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter

from chainflow.core.health import HealthReport

Hook = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class ServiceComponent:
    """A service built for this process; the kernel starts and stops it in layer order."""

    name: str
    router: APIRouter | None = None
    on_start: Hook | None = None
    on_stop: Hook | None = None
    health: Callable[[], Awaitable[HealthReport]] | None = None
    mount_prefix: str = "/api/v1"  # WebSocket routes (``/ws/...``) mount at the root
    # What it built, for the services above it (``runtime.built.BuiltServices``).
    parts: Mapping[str, object] = field(default_factory=dict)

    async def start(self) -> None:
        if self.on_start is not None:
            await self.on_start()

    async def stop(self) -> None:
        if self.on_stop is not None:
            await self.on_stop()
