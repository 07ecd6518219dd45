"""All queries of the trading service's tables; tenant-scoped."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Integer, bindparam, select

from chainflow.storage.relational import TenantRepository
from chainflow.trading.events import SignalIssued
from chainflow.trading.models import PaperAccountRecord, SignalRecord


class StoredSignal(NamedTuple):
    """One stored signal as ``latest`` reads it: ``SignalIssued``'s stored fields."""

    symbol: str
    ts: int
    action: str
    confidence: float
    size: float
    stop_loss: float | None
    take_profit: float | None
    model: str
    reasons: list[str]


_SIGNALS = SignalRecord.__table__
# The newest signals of a tenant (of one symbol), built once: a statement built per call
# and its cache key cost more than running it (benchmarks/http.py). The tenant filter is
# a bound parameter like the others; ``latest`` always passes it.
_NEWEST_FIRST = (_SIGNALS.c.ts.desc(), _SIGNALS.c.id.desc())
_LATEST = (
    select(*(_SIGNALS.c[name] for name in StoredSignal._fields))
    .where(_SIGNALS.c.tenant_id == bindparam("tenant_id"))
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
)
_LATEST_OF_SYMBOL = _LATEST.where(_SIGNALS.c.symbol == bindparam("symbol"))


class SignalRepository(TenantRepository[SignalRecord]):
    async def record(self, signal: SignalIssued, timeframe: str) -> SignalRecord:
        """Store an issued signal for this tenant."""
        return await self.add(
            SignalRecord(
                symbol=signal.symbol,
                timeframe=timeframe,
                ts=signal.ts,
                action=signal.action,
                confidence=signal.confidence,
                size=signal.size,
                stop_loss=signal.stop_loss,
                take_profit=signal.take_profit,
                model=signal.model,
                reasons=list(signal.reasons),
            )
        )

    async def latest(self, *, symbol: str | None, limit: int) -> list[StoredSignal]:
        """Return the tenant's newest signals (by bar ts, then issue order), newest first.

        A Core select of the stored fields, not of ``SignalRecord``: no ORM object is built
        for a read that only copies values out (``GET /api/v1/signals``). The index on
        (tenant_id, ts, id) hands the rows over in this order, so a page of the newest
        signals reads only that page (migration 0021).
        """
        parameters: dict[str, Any] = {"tenant_id": self.tenant.tenant_id, "limit": limit}
        statement = _LATEST
        if symbol is not None:
            statement = _LATEST_OF_SYMBOL
            parameters["symbol"] = symbol
        result = await self.session.execute(statement, parameters)
        return [StoredSignal._make(row) for row in result]


class PaperAccountRepository(TenantRepository[PaperAccountRecord]):
    async def load(self) -> dict[str, Any] | None:
        """Return the tenant's saved paper account document, if any."""
        found = (await self.session.execute(self._select())).scalar_one_or_none()
        return None if found is None else dict(found.document)

    async def save(self, document: dict[str, Any]) -> None:
        """Store the tenant's paper account document (replacing the saved one)."""
        found = (await self.session.execute(self._select())).scalar_one_or_none()
        if found is None:
            await self.add(PaperAccountRecord(document=document))
        else:
            found.document = document
