"""Paper accounts survive restarts: each tenant's book is saved as one document.

``PaperStore.load`` is the desk's loader (a tenant's saved book, read once per process
before its first tick or signal); ``run`` saves the books that changed every
``interval_s`` (``CHAINFLOW_TRADING_PAPER_SAVE_S``) and ``save_changed`` once more at stop,
so a restart loses at most the last interval of a crash, and nothing on a clean stop.

The document also holds the tenant's bar-close strategy states (``StrategyStates``), saved
and loaded with the book, so that the two always agree on which predictions were run. A
strategy step alone does not make the book due for a save (a bar close of every key would
make every tenant due at once); the states are written whenever the book is (a fill, a
mark, a signal: ``save_soon``), at a handover and at a clean stop.
With trading replicas, a replica giving up a tenant's partition saves its books and
forgets them (``hand_over``) before it frees the partition's lease; the next owner loads
them on the tenant's first tick or prediction. One save runs at a time (the periodic
saver, a handover's, the one at stop), never while a bar is half run (``SaveGate``), and
only books still open here are saved, so a book
handed over is never written back by a late periodic save.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database
from chainflow.trading.paper.desk import PaperDesk
from chainflow.trading.paper.save_gate import SaveGate
from chainflow.trading.repository import PaperAccountRepository

log = get_logger("chainflow.trading.paper_store")


class SavedWithBooks(Protocol):
    """What is saved in the tenant's document beside its book (``strategy_states``)."""

    def dump(self, tenant_id: str) -> list[dict[str, Any]]: ...

    def load(self, tenant_id: str, items: Sequence[Mapping[str, Any]]) -> None: ...

    def forget(self, tenants: Iterable[str]) -> None: ...


class PaperStore:
    """Load and save the tenants' paper books in ``paper_accounts`` (tenant-scoped)."""

    def __init__(self, database: Database, strategies: SavedWithBooks | None = None) -> None:
        self._database = database
        self._strategies = strategies
        self.gate = SaveGate()  # a bar's run (``step``) is saved whole or not at all
        self._soon = asyncio.Event()

    async def read(self, tenant_id: str) -> Mapping[str, Any] | None:
        """Return the tenant's saved document as it is (a copy of another replica's book)."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            return await PaperAccountRepository(uow.session, tenant).load()

    async def load(self, tenant_id: str) -> Mapping[str, Any] | None:
        """Return the tenant's saved book (its strategy states go to ``strategies``)."""
        document = await self.read(tenant_id)
        if document is not None and self._strategies is not None:
            self._strategies.load(tenant_id, document.get("strategies", []))
        return document

    async def save_changed(self, desk: PaperDesk) -> int:
        """Save every book that changed since the last save; return how many."""
        async with self.gate.save():
            tenants = [tenant_id for tenant_id in desk.take_dirty() if desk.holds(tenant_id)]
            return await self._save(desk, tenants)

    async def hand_over(self, desk: PaperDesk, tenant_ids: Iterable[str], *, save: bool) -> int:
        """Save the books of ``tenant_ids`` open here (when ``save``), then forget them and
        their strategy states; return how many were saved. A failed save is logged: the
        books are forgotten all the same (the next owner continues from the last save, as
        after a crash)."""
        tenants = sorted(set(tenant_ids))
        saved = 0
        async with self.gate.save():
            try:
                if save:
                    saved = await self._save(desk, [t for t in tenants if desk.holds(t)])
            except Exception:
                log.exception("paper_accounts_handover_save_failed", tenants=len(tenants))
            finally:
                desk.forget(tenants)
                if self._strategies is not None:
                    self._strategies.forget(tenants)
        return saved

    async def _save(self, desk: PaperDesk, tenants: Sequence[str]) -> int:
        saved = 0
        try:
            for tenant_id in tenants:
                tenant = TenantContext(tenant_id=TenantId(tenant_id))
                document = desk.dump(tenant_id)
                if self._strategies is not None:
                    document["strategies"] = self._strategies.dump(tenant_id)
                async with self._database.unit_of_work(tenant) as uow:
                    await PaperAccountRepository(uow.session, tenant).save(document)
                saved += 1
        except BaseException:
            # Cancelled (the periodic saver at stop) or failed: the books not saved stay
            # dirty, so the next save, or the one at stop, still writes them.
            desk.mark_dirty(tenants[saved:])
            raise
        return saved

    def save_soon(self) -> None:
        """Have the periodic saver save now rather than at its next interval (a signal was
        issued: after a crash the next owner continues from it)."""
        self._soon.set()

    async def run(self, desk: PaperDesk, interval_s: float) -> None:
        """Save the changed books every ``interval_s`` (or sooner: ``save_soon``) until
        cancelled."""
        while True:
            try:
                await asyncio.wait_for(self._soon.wait(), timeout=interval_s)
            except TimeoutError:
                pass
            self._soon.clear()
            try:
                await self.save_changed(desk)
            except Exception:  # a failed save is retried with the next interval's
                log.exception("paper_accounts_save_failed")
