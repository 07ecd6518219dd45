"""All queries of the backtest service's table; tenant-scoped, plus one system sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.backtest.models import BacktestJob
from chainflow.storage.relational import TenantRepository
from chainflow.storage.relational.unit_of_work import CLOCK_INFO_KEY, SYSTEM_INFO_KEY

UNFINISHED = ("queued", "running")


class BacktestJobRepository(TenantRepository[BacktestJob]):
    async def create(self, values: Mapping[str, Any]) -> BacktestJob:
        """Store a new job for this tenant (``values`` are column values)."""
        return await self.add(BacktestJob(**values))

    async def find(self, job_id: str) -> BacktestJob | None:
        """Return this tenant's job ``job_id``, or ``None`` (another tenant's is ``None``)."""
        result = await self.session.execute(self._select().where(BacktestJob.id == job_id))
        return result.scalar_one_or_none()

    async def latest(self, *, limit: int, kind: str | None = None) -> Sequence[BacktestJob]:
        """Return this tenant's newest jobs first."""
        statement = self._select()
        if kind is not None:
            statement = statement.where(BacktestJob.kind == kind)
        statement = statement.order_by(BacktestJob.created_at.desc(), BacktestJob.id.desc())
        return (await self.session.execute(statement.limit(limit))).scalars().all()

    async def count_created_since(self, moment: datetime) -> int:
        """Return how many jobs this tenant created at or after ``moment``."""
        statement = select(func.count()).select_from(
            self._select().where(BacktestJob.created_at >= moment).subquery()
        )
        return int(await self.session.scalar(statement) or 0)

    async def set_values(self, job_id: str, values: Mapping[str, Any]) -> bool:
        """Update columns of job ``job_id`` (``updated_at`` is stamped); return if it exists."""
        return await self.update_by_id(job_id, values)

    async def set_values_if(
        self, job_id: str, values: Mapping[str, Any], *, status_in: Sequence[str]
    ) -> bool:
        """Update columns of job ``job_id`` only while its status is one of ``status_in``
        (a compare-and-set against another writer); return whether it was updated."""
        stamped = dict(values)
        clock = self.session.info.get(CLOCK_INFO_KEY)
        if clock is not None and "updated_at" not in stamped:
            stamped["updated_at"] = clock.now()
        statement = (
            self._update()
            .where(BacktestJob.id == job_id, BacktestJob.status.in_(tuple(status_in)))
            .values(stamped)
            .returning(BacktestJob.id)
        )
        return (await self.session.execute(statement)).first() is not None


class UnfinishedJobSweep:
    """Marks every tenant's unfinished jobs interrupted, in a ``system=True`` unit of work
    (at start-up: a job left queued or running belonged to a process that is gone; its
    last checkpoint stays, so it can be resumed)."""

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "UnfinishedJobSweep needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        self.session = session

    async def interrupt_all(self, *, message: str, at: datetime) -> int:
        """Mark unfinished jobs interrupted with ``message``; return how many."""
        statement = (
            update(BacktestJob)
            .where(BacktestJob.status.in_(UNFINISHED))
            .values(status="interrupted", error=message, finished_at=at, updated_at=at)
            .returning(BacktestJob.id)
        )
        return len((await self.session.execute(statement)).all())
