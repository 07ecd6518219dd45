"""What a tenant's first ticks in this process need read first: its paper book and model.

Read inline by the tick path, a new tenant's book and model (database reads) held up every
other tenant's ticks of the same batch. ``TenantReads.run`` runs the batch's events of the
tenants known here at once, then each new tenant's events as soon as its own reads are
done; a terminal's ``hello`` starts them in the background (``preload``), so that its
first tick usually finds them done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from chainflow.bridge.api import TicksAccepted
from chainflow.core.background import BackgroundTasks
from chainflow.core.logging import get_logger
from chainflow.ml.api import ServedModelSource
from chainflow.trading.paper.desk import PaperDesk
from chainflow.trading.tick.queue import MarketEvent

log = get_logger("chainflow.trading.tick_path")

Process = Callable[[list[MarketEvent]], Awaitable[None]]


class TenantReads:
    """The paper book and model reads of tenants new to this process; see the module doc."""

    def __init__(self, desk: PaperDesk, models: ServedModelSource | None) -> None:
        self._desk = desk
        self._models = models
        self._preloads = BackgroundTasks(
            "chainflow.trading.tick_path", "tick_path_tenant_load_failed"
        )

    def ready(self, tenant_id: str) -> bool:
        """Whether the tenant's paper book and model are known here (no read needed)."""
        models = self._models
        return self._desk.ready(tenant_id) and (models is None or models.resolved(tenant_id))

    async def load(self, tenant_id: str) -> None:
        """Read what the tenant's first ticks need: its paper book and its model."""
        await self._desk.ensure(tenant_id)
        if self._models is not None:
            await self._models.resolve(tenant_id)

    def preload(self, tenant_id: str) -> None:
        """Start the tenant's reads in the background (its terminal said hello)."""
        if self.ready(tenant_id):
            return
        self._preloads.start(self.load(tenant_id), name="tick-tenant-load")

    async def run(self, batch: Sequence[MarketEvent], process: Process) -> None:
        """``process`` the events of the tenants known here, then each new tenant's events
        once its reads are done (a failed read leaves its ticks unanswered, not the rest)."""
        loading = {
            event.tenant_id
            for event in batch
            if isinstance(event, TicksAccepted) and not self.ready(event.tenant_id)
        }
        if not loading:
            await process(list(batch))
            return
        loads = {asyncio.ensure_future(self.load(tenant_id)): tenant_id for tenant_id in loading}
        try:
            await process([event for event in batch if event.tenant_id not in loading])
            while loads:
                done, _ = await asyncio.wait(loads, return_when=asyncio.FIRST_COMPLETED)
                for load in done:
                    tenant_id = loads.pop(load)
                    if load.exception() is not None:
                        log.error(
                            "tick_path_tenant_load_failed",
                            tenant_id=tenant_id,
                            exc_info=load.exception(),
                        )
                        continue
                    await process([e for e in batch if e.tenant_id == tenant_id])
        finally:
            for load in loads:
                load.cancel()

    async def stop(self) -> None:
        await self._preloads.stop()
