"""Security notices: a sign-in from an address the user never signed in from before.

``KnownAddresses.screen`` is the gate of the sign-in source (``EventSource.gate``): it
records each (user, IP) pair in ``notification_known_addresses`` and lets the event through
only for a pair it sees for the first time when the user had signed in before from
elsewhere. The pair's row remembers the event that first saw it and whether it was the
user's first address, so a redelivered event is decided the same way (the outbox's
idempotency key then keeps the message single).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, new_id
from chainflow.core.tenancy import TenantContext
from chainflow.notify.events import NotifyEvent
from chainflow.notify.models import NotificationKnownAddress
from chainflow.storage.relational import Database, TenantRepository

__all__ = ["KnownAddressRepository", "KnownAddresses"]

MAX_IP_LENGTH = 64


class KnownAddressRepository(TenantRepository[NotificationKnownAddress]):
    async def find(self, user_id: str, ip: str) -> NotificationKnownAddress | None:
        statement = self._select().where(
            NotificationKnownAddress.user_id == user_id, NotificationKnownAddress.ip == ip
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def count_for_user(self, user_id: str) -> int:
        statement = (
            select(func.count())
            .select_from(NotificationKnownAddress)
            .where(NotificationKnownAddress.tenant_id == self.tenant.tenant_id)
            .where(NotificationKnownAddress.user_id == user_id)
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def add_if_absent(self, row: dict[str, object]) -> None:
        """Insert the pair unless a concurrent sign-in inserted it first."""
        dialect = self.session.get_bind().dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        statement = (
            module.insert(NotificationKnownAddress)
            .values({**row, "tenant_id": self.tenant.tenant_id})
            .on_conflict_do_nothing(index_elements=["tenant_id", "user_id", "ip"])
        )
        await self.session.execute(statement)


class KnownAddresses:
    """The sign-in gate: a ``new_sign_in`` event passes only for a new address."""

    def __init__(self, *, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def screen(self, event: NotifyEvent) -> NotifyEvent | None:
        """Record the sign-in's address; return the event when it is news, else None."""
        ip = event.data.get("ip")
        if not isinstance(ip, str) or not ip or event.user_id is None:
            return None  # an address we cannot compare tells nothing
        ip = ip[:MAX_IP_LENGTH]
        now = self._clock.now()
        tenant = TenantContext(tenant_id=TenantId(event.tenant_id))
        async with self._database.unit_of_work(tenant) as uow:
            repository = KnownAddressRepository(uow.session, tenant)
            row = await repository.find(event.user_id, ip)
            if row is None:
                first = await repository.count_for_user(event.user_id) == 0
                await repository.add_if_absent(
                    {
                        "id": new_id(),
                        "user_id": event.user_id,
                        "ip": ip,
                        "event_id": event.event_id,
                        "first_of_user": first,
                        "last_seen_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                row = await repository.find(event.user_id, ip)
            elif row.event_id != event.event_id:
                row.last_seen_at = now
            news = row is not None and row.event_id == event.event_id and not row.first_of_user
        return event if news else None
