"""Paper accounts survive restarts: each tenant's book is saved as one document.

``PaperStore.load`` is the desk's loader (a tenant's saved book, read once per process
before its first tick or signal); ``run`` saves the books that changed every
``interval_s`` (``CHAINFLOW_TRADING_PAPER_SAVE_S``) and ``save_changed`` once more at stop,
so a restart loses at most the last interval of a crash, and nothing on a clean stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database
from chainflow.trading.paper.desk import PaperDesk
from chainflow.trading.repository import PaperAccountRepository

log = get_logger("chainflow.trading.paper_store")


class PaperStore:
    """Load and save the tenants' paper books in ``paper_accounts`` (tenant-scoped)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def load(self, tenant_id: str) -> Mapping[str, Any] | None:
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            return await PaperAccountRepository(uow.session, tenant).load()

    async def save_changed(self, desk: PaperDesk) -> int:
        """Save every book that changed since the last save; return how many."""
        tenants = desk.take_dirty()
        saved = 0
        try:
            for tenant_id in tenants:
                tenant = TenantContext(tenant_id=TenantId(tenant_id))
                async with self._database.unit_of_work(tenant) as uow:
                    await PaperAccountRepository(uow.session, tenant).save(desk.dump(tenant_id))
                saved += 1
        except BaseException:
            # Cancelled (the periodic saver at stop) or failed: the books not saved stay
            # dirty, so the next save, or the one at stop, still writes them.
            desk.mark_dirty(tenants[saved:])
            raise
        return saved

    async def run(self, desk: PaperDesk, interval_s: float) -> None:
        """Save the changed books every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.save_changed(desk)
            except Exception:  # a failed save is retried with the next interval's
                log.exception("paper_accounts_save_failed")
