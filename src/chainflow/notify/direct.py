"""Messages another service rendered itself (an analytics report), queued as they are.

The hub's own events go through ``intake.OutboxWriter`` (recipients, preferences,
templates); a ``DirectMessage`` already names its one recipient, address and body, and
only needs the outbox: delivery, retries, the delivery log and the channel's attachments.
Its ``idempotency_key`` is the caller's: the same key is queued once, so a caller that
repeats itself after a crash adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, new_id
from chainflow.core.tenancy import TenantContext
from chainflow.notify.channels.base import CHANNELS, SEVERITIES
from chainflow.notify.models import KEY_LENGTH
from chainflow.notify.repository import OutboxRepository
from chainflow.storage.relational import Database

__all__ = ["DirectMessage", "DirectOutbox"]


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """One rendered message for one user on one channel."""

    idempotency_key: str  # 64 characters, e.g. a SHA-256 hex digest of what names it
    tenant_id: str
    user_id: str
    channel: str
    address: str
    kind: str  # the delivery log's event type
    subject: str
    text: str
    html: str | None = None
    severity: str = "info"
    meta: Mapping[str, str] = field(default_factory=dict)  # e.g. from_name, attachments

    def __post_init__(self) -> None:
        if len(self.idempotency_key) != KEY_LENGTH:
            raise ValueError(
                f"idempotency_key must be {KEY_LENGTH} characters; received "
                f"{len(self.idempotency_key)}"
            )
        if self.channel not in CHANNELS or self.severity not in SEVERITIES:
            raise ValueError(
                f"expected a channel of {CHANNELS} and a severity of {SEVERITIES}; received "
                f"{self.channel!r}, {self.severity!r}"
            )


class DirectOutbox:
    """Writes ``DirectMessage`` rows; ``on_queued`` (the worker's wake) runs after a commit
    that added one."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        channels: Collection[str],
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self._channels = frozenset(channels)
        self._on_queued = on_queued

    def accepts(self, channel: str) -> bool:
        """Whether ``channel`` is configured in this process."""
        return channel in self._channels

    async def queue(self, message: DirectMessage) -> bool:
        """Queue ``message`` unless its key was queued before; return whether it was new."""
        now = self._clock.now()
        row = {
            "id": new_id(),
            "idempotency_key": message.idempotency_key,
            "event_id": message.idempotency_key,
            "event_type": message.kind,
            "user_id": message.user_id,
            "channel": message.channel,
            "address": message.address,
            "severity": message.severity,
            "subject": message.subject,
            "body_text": message.text,
            "body_html": message.html,
            "meta": {"kind": message.kind, **message.meta},
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "event_at": now,
            "created_at": now,
            "updated_at": now,
        }
        tenant = TenantContext(tenant_id=TenantId(message.tenant_id))
        async with self._database.unit_of_work(tenant) as uow:
            added = await OutboxRepository(uow.session, tenant).add_if_absent(row)
        if added and self._on_queued is not None:
            self._on_queued()
        return added
