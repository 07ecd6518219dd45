"""Public interface of the gateway: what the composition root hands it."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter

from chainflow.core.health import ReadinessProbe

__all__ = ["MountedRouter", "ReadinessProbe"]


@dataclass(frozen=True, slots=True)
class MountedRouter:
    """A service's router and the prefix it is mounted under (``/api/v1`` by default)."""

    service: str
    router: APIRouter
    prefix: str = "/api/v1"
    tags: tuple[str, ...] = field(default_factory=tuple)
