"""Queries of the report subscriptions: one tenant's rows, and the scheduler's due rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.analytics.reports.models import ReportSubscription
from chainflow.storage.relational import TenantRepository
from chainflow.storage.relational.unit_of_work import SYSTEM_INFO_KEY

__all__ = ["DueSubscriptions", "SubscriptionRepository"]


class SubscriptionRepository(TenantRepository[ReportSubscription]):
    async def find(self, user_id: str) -> ReportSubscription | None:
        statement = self._select().where(ReportSubscription.user_id == user_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def save(
        self,
        user_id: str,
        *,
        period: str,
        sent_through: datetime | None,
        next_due_at: datetime | None,
    ) -> ReportSubscription:
        """Create or update the user's row."""
        row = await self.find(user_id)
        if row is None:
            row = ReportSubscription(user_id=user_id, period=period)
            row.sent_through, row.next_due_at = sent_through, next_due_at
            return await self.add(row)
        row.period, row.sent_through, row.next_due_at = period, sent_through, next_due_at
        await self.session.flush()
        return row

    async def mark(
        self,
        user_id: str,
        *,
        period: str,
        sent_through: datetime | None,
        next_due_at: datetime,
        now: datetime,
    ) -> bool:
        """Record a scheduler round for the user, unless their setting changed meanwhile
        (from ``period``); return whether the row was updated."""
        statement = (
            self._update()
            .where(ReportSubscription.user_id == user_id)
            .where(ReportSubscription.period == period)
            .values(sent_through=sent_through, next_due_at=next_due_at, updated_at=now)
            .returning(ReportSubscription.id)
        )
        return (await self.session.execute(statement)).first() is not None


class DueSubscriptions:
    """The scheduler's cross-tenant view; needs a ``system=True`` unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "DueSubscriptions needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        self.session = session

    async def due(self, now: datetime, limit: int) -> Sequence[ReportSubscription]:
        """Return up to ``limit`` subscriptions whose ``next_due_at`` has passed."""
        statement = (
            select(ReportSubscription)
            .where(ReportSubscription.next_due_at.is_not(None))
            .where(ReportSubscription.next_due_at <= now)
            .order_by(ReportSubscription.next_due_at, ReportSubscription.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()
