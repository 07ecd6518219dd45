"""Publish each tenant's ``dashboard`` frame: at most once per second, only when changed.

Every ``interval_s`` the publisher reads each tenant's ``DashboardView`` from its source
(the paper desk and the model trackers in one process), and publishes the frame on
``analytics.dashboard.<tenant>`` when its content differs from the last one published and
at least ``MIN_INTERVAL_MS`` passed since (by the injected clock). Only the newest state
is ever kept: nothing queues here, and the stream coalesces what a slow client has not
taken yet. A new connection asks ``analytics.dashboard.current`` for the last frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from chainflow.analytics.live.events import dashboard_request_topic, dashboard_topic
from chainflow.analytics.live.frame import DashboardView, dashboard_body
from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.hub.api import EventBus, Subscription

log = get_logger("chainflow.analytics.live")

MIN_INTERVAL_MS = 1000
FRAME_TYPE = "dashboard"


class DashboardSource(Protocol):
    """Where live dashboard state comes from."""

    def tenants(self) -> Sequence[str]:
        """Return the tenants that may have a live dashboard."""
        ...

    async def view(self, tenant_id: str) -> DashboardView | None:
        """Return the tenant's live state, or None when it has none."""
        ...


@dataclass(frozen=True, slots=True)
class Published:
    ts: int
    body: dict[str, Any]
    data: bytes


class DashboardPublisher:
    """See the module doc."""

    def __init__(
        self, *, bus: EventBus, clock: Clock, source: DashboardSource, interval_s: float = 1.0
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._source = source
        self._interval_s = interval_s
        self._last: dict[str, Published] = {}
        self._task: asyncio.Task[None] | None = None
        self._serving: Subscription | None = None

    async def start(self) -> None:
        self._serving = await self._bus.serve(dashboard_request_topic(), self.on_request)
        self._task = asyncio.create_task(self._publish_forever(), name="analytics-dashboard")

    async def stop(self) -> None:
        if self._serving is not None:
            await self._serving.unsubscribe()
            self._serving = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _publish_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.publish_changes()
            except Exception:  # the next round tries again
                log.exception("analytics_dashboard_failed")

    async def publish_changes(self) -> int:
        """Publish the frame of every tenant whose dashboard changed; return how many."""
        published = 0
        for tenant_id in list(self._source.tenants()):
            frame = await self._changed_frame(tenant_id)
            if frame is not None:
                await self._bus.publish(dashboard_topic(tenant_id), frame.data)
                published += 1
        return published

    async def on_request(self, data: bytes) -> bytes:
        """Answer a tenant id with its last frame (made now if none was), else empty."""
        tenant_id = data.decode(errors="replace")
        last = self._last.get(tenant_id)
        if last is None:
            last = await self._changed_frame(tenant_id)
        return b"" if last is None else last.data

    async def _changed_frame(self, tenant_id: str) -> Published | None:
        now = self._clock.now_ms()
        last = self._last.get(tenant_id)
        if last is not None and now - last.ts < MIN_INTERVAL_MS:
            return None
        view = await self._source.view(tenant_id)
        if view is None:
            return None
        body = dashboard_body(view)
        if last is not None and last.body == body:
            return None
        frame = Published(now, body, orjson.dumps({"type": FRAME_TYPE, "ts": now, **body}))
        self._last[tenant_id] = frame
        return frame
