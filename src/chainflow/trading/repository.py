"""All queries of the trading service's tables; tenant-scoped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainflow.storage.relational import TenantRepository
from chainflow.trading.events import SignalIssued
from chainflow.trading.models import PaperAccountRecord, SignalRecord


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

    async def latest(self, *, symbol: str | None, limit: int) -> Sequence[SignalRecord]:
        """Return the tenant's newest signals (by bar ts, then issue order), newest first."""
        statement = self._select()
        if symbol is not None:
            statement = statement.where(SignalRecord.symbol == symbol)
        statement = statement.order_by(SignalRecord.ts.desc(), SignalRecord.id.desc()).limit(limit)
        return (await self.session.execute(statement)).scalars().all()


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
