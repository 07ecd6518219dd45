"""The audit trail of superadmin actions on billing: who, what, when, why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chainflow.core.clock import Clock
from chainflow.storage.relational import UnitOfWork
from chainflow.users.billing.models import BillingAudit
from chainflow.users.billing.repository import AuditRepository

REASON_LENGTH = 500


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    at: datetime
    actor_user_id: str
    action: str
    tenant_id: str
    order_id: str | None
    reason: str
    details: dict[str, Any]


def entry_of(row: BillingAudit) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor_user_id=row.actor_user_id,
        action=row.action,
        tenant_id=row.subject_tenant_id,
        order_id=row.order_id,
        reason=row.reason,
        details=dict(row.details),
    )


class AuditTrail:
    """Record and read audit entries (a ``system=True`` unit of work). Never commits."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def record(
        self,
        uow: UnitOfWork,
        *,
        actor_user_id: str,
        action: str,
        tenant_id: str,
        reason: str,
        order_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Add one entry, in the transaction of the change it records."""
        row = BillingAudit(
            at=self._clock.now(),
            actor_user_id=actor_user_id,
            action=action,
            subject_tenant_id=tenant_id,
            order_id=order_id,
            reason=reason[:REASON_LENGTH],
            details=details or {},
        )
        await AuditRepository(uow.session).add(row)
        return entry_of(row)

    async def recent(self, uow: UnitOfWork, tenant_id: str | None, limit: int) -> list[AuditEntry]:
        """Return the newest entries, of one tenant if ``tenant_id`` is given."""
        rows = await AuditRepository(uow.session).recent(tenant_id, limit)
        return [entry_of(row) for row in rows]
