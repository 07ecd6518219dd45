"""Wire models of the hub's routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ServiceInstanceOut(BaseModel):
    instance_id: str
    services: list[str]
    url: str
    started_at_ms: int
    last_heartbeat_ms: int
    meta: dict[str, Any]


class ServiceInstancesOut(BaseModel):
    items: list[ServiceInstanceOut]
