"""Queries of the outbox and preferences tables.

``OutboxRepository`` and ``PreferenceRepository`` act for one tenant; ``OutboxQueue`` is the
delivery worker's cross-tenant view and needs a ``system=True`` unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chainflow.notify.models import (
    NotificationDigestItem,
    NotificationOutbox,
    NotificationPreference,
    NotificationTemplate,
    NotificationTerminal,
)
from chainflow.storage.relational import TenantRepository
from chainflow.storage.relational.unit_of_work import SYSTEM_INFO_KEY

__all__ = [
    "DigestQueue",
    "OutboxQueue",
    "OutboxRepository",
    "PreferenceRepository",
    "insert_if_absent",
]

QUEUED = ("pending", "sending")
RETRYABLE = ("failed", "dead")


async def insert_if_absent(session: AsyncSession, model: Any, row: Mapping[str, Any]) -> bool:
    """Insert ``row`` into ``model``'s table unless its ``idempotency_key`` exists; return
    whether it was new (``row`` names its ``tenant_id``)."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        module.insert(model)
        .values(dict(row))
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(model.id)
    )
    return (await session.execute(statement)).first() is not None


class OutboxRepository(TenantRepository[NotificationOutbox]):
    async def add_if_absent(self, values: Mapping[str, Any]) -> bool:
        """Insert one row unless its idempotency key exists; return whether it was new."""
        row = {**values, "tenant_id": self.tenant.tenant_id}
        return await insert_if_absent(self.session, NotificationOutbox, row)

    async def find(self, notification_id: str) -> NotificationOutbox | None:
        statement = self._select().where(NotificationOutbox.id == notification_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def for_user(
        self, user_id: str, *, limit: int, state: str | None = None
    ) -> Sequence[NotificationOutbox]:
        """Return the user's notifications, newest first."""
        statement = self._select().where(NotificationOutbox.user_id == user_id)
        if state is not None:
            statement = statement.where(NotificationOutbox.state == state)
        statement = statement.order_by(
            NotificationOutbox.created_at.desc(), NotificationOutbox.id.desc()
        ).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

    async def requeue(self, notification_id: str, *, at: datetime) -> bool:
        """Move a failed or dead row back to pending with a fresh try budget."""
        statement = (
            self._update()
            .where(NotificationOutbox.id == notification_id)
            .where(NotificationOutbox.state.in_(RETRYABLE))
            .values(state="pending", attempts=0, next_attempt_at=at, last_error=None, updated_at=at)
            .returning(NotificationOutbox.id)
        )
        return (await self.session.execute(statement)).first() is not None


class PreferenceRepository(TenantRepository[NotificationPreference]):
    async def documents(self, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the stored documents of ``user_ids`` (users without one are left out)."""
        if not user_ids:
            return {}
        statement = self._select().where(NotificationPreference.user_id.in_(user_ids))
        rows = (await self.session.execute(statement)).scalars().all()
        return {row.user_id: dict(row.document) for row in rows}

    async def save(self, user_id: str, document: dict[str, Any]) -> None:
        statement = self._select().where(NotificationPreference.user_id == user_id)
        row = (await self.session.execute(statement)).scalar_one_or_none()
        if row is None:
            await self.add(NotificationPreference(user_id=user_id, document=document))
        else:
            row.document = document
            await self.session.flush()


class OutboxQueue:
    """The delivery worker's queries over every tenant's outbox rows."""

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "OutboxQueue needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        self.session = session

    async def claim(
        self, *, now: datetime, limit: int, stale_after_s: float
    ) -> Sequence[NotificationOutbox]:
        """Mark up to ``limit`` due rows ``sending`` (one more attempt) and return them.

        Due: ``pending`` with ``next_attempt_at <= now``, or ``sending`` claimed longer than
        ``stale_after_s`` ago (its worker died). On PostgreSQL the rows are locked ``FOR
        UPDATE SKIP LOCKED``, so concurrent workers claim disjoint rows; SQLite's unit of
        work holds the database's write lock for the whole claim.
        """
        stale = now - timedelta(seconds=stale_after_s)
        due = or_(
            and_(NotificationOutbox.state == "pending", NotificationOutbox.next_attempt_at <= now),
            and_(NotificationOutbox.state == "sending", NotificationOutbox.claimed_at < stale),
        )
        query = (
            select(NotificationOutbox)
            .where(due)
            .order_by(NotificationOutbox.next_attempt_at, NotificationOutbox.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = (await self.session.execute(query)).scalars().all()
        for row in rows:
            row.state = "sending"
            row.attempts += 1
            row.claimed_at = now
        await self.session.flush()
        return rows

    async def settle(self, notification_id: str, attempt: int, values: Mapping[str, Any]) -> bool:
        """Write the outcome of claim number ``attempt``; False if the row moved on since."""
        statement = (
            update(NotificationOutbox)
            .where(NotificationOutbox.id == notification_id)
            .where(NotificationOutbox.state == "sending")
            .where(NotificationOutbox.attempts == attempt)
            .values(**values)
            .returning(NotificationOutbox.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def depth(self) -> dict[str, int]:
        """Return how many rows wait in each queued state."""
        statement = (
            select(NotificationOutbox.state, func.count())
            .where(NotificationOutbox.state.in_(QUEUED))
            .group_by(NotificationOutbox.state)
        )
        counts = dict.fromkeys(QUEUED, 0)
        for state, count in (await self.session.execute(statement)).all():
            counts[state] = int(count)
        return counts


class DigestQueue:
    """The digest flusher's queries over every tenant's held events (``system=True``)."""

    def __init__(self, session: AsyncSession) -> None:
        if not session.info.get(SYSTEM_INFO_KEY):
            raise ValueError(
                "DigestQueue needs a unit of work opened with system=True; "
                "it received a tenant-scoped one"
            )
        self.session = session

    async def due(self, *, now: datetime, limit: int) -> Sequence[NotificationDigestItem]:
        """Return held events whose digest is due and not yet queued, oldest first."""
        statement = (
            select(NotificationDigestItem)
            .where(NotificationDigestItem.digest_id.is_(None))
            .where(NotificationDigestItem.due_at <= now)
            .order_by(NotificationDigestItem.event_at, NotificationDigestItem.id)
            .limit(limit)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def overrides(self, kind: str, tenants: Sequence[str]) -> list[NotificationTemplate]:
        """Return the template overrides of ``kind`` of these tenants."""
        statement = select(NotificationTemplate).where(
            NotificationTemplate.kind == kind, NotificationTemplate.tenant_id.in_(tenants)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def queue(self, row: Mapping[str, Any], item_ids: Sequence[str], at: datetime) -> bool:
        """Insert a digest's outbox row (once per key) and mark its items with the row's id;
        return whether the row was new."""
        added = await insert_if_absent(self.session, NotificationOutbox, row)
        outbox_id = (
            await self.session.execute(
                select(NotificationOutbox.id).where(
                    NotificationOutbox.idempotency_key == row["idempotency_key"]
                )
            )
        ).scalar_one()
        await self.session.execute(
            update(NotificationDigestItem)
            .where(NotificationDigestItem.id.in_(item_ids))
            .where(NotificationDigestItem.digest_id.is_(None))
            .values(digest_id=outbox_id, updated_at=at)
        )
        return added


async def terminals_down(session: AsyncSession) -> Sequence[NotificationTerminal]:
    """Every tenant's terminals reported down and not settled yet (a ``system=True`` unit
    of work: the terminal sweep looks at all tenants)."""
    if not session.info.get(SYSTEM_INFO_KEY):
        raise ValueError("terminals_down needs a unit of work opened with system=True")
    statement = select(NotificationTerminal).where(
        NotificationTerminal.state == "down", NotificationTerminal.settled.is_(False)
    )
    return (await session.execute(statement)).scalars().all()
