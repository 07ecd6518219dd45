"""Turn one event into outbox rows: recipients, preferences, channels, rendered messages.

``accept`` resolves the recipients first, then writes every row in one tenant unit of work
(keyed by ``idempotency_key``, so a redelivered event adds nothing) and returns once it has
committed: a bus consumer acks only after that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, new_id
from chainflow.core.tenancy import TenantContext
from chainflow.notify.channels.registry import ChannelRegistry
from chainflow.notify.directory import AddressBook, Recipient, RecipientDirectory
from chainflow.notify.events import NotifyEvent, idempotency_key
from chainflow.notify.preferences import Preferences, zone_of
from chainflow.notify.repository import OutboxRepository, PreferenceRepository
from chainflow.notify.templates import TemplateRenderer
from chainflow.storage.relational import Database

__all__ = ["OutboxWriter", "Planned"]


@dataclass(frozen=True, slots=True)
class Planned:
    """One message to queue: who, where, when."""

    recipient: str  # user id, or the fixed address of a mandatory event
    user_id: str | None
    channel: str
    address: str
    locale: str | None
    deliver_at: datetime


class OutboxWriter:
    """Writes the outbox rows of an event; ``on_queued`` runs after rows were committed."""

    def __init__(
        self,
        *,
        database: Database,
        directory: RecipientDirectory,
        addresses: AddressBook,
        channels: ChannelRegistry,
        renderer: TemplateRenderer,
        clock: Clock,
        unsubscribe_url: str,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._database = database
        self._directory = directory
        self._addresses = addresses
        self._channels = channels
        self._renderer = renderer
        self._clock = clock
        self._unsubscribe_url = unsubscribe_url
        self._on_queued = on_queued

    async def accept(self, event: NotifyEvent) -> int:
        """Queue ``event``'s messages; return how many rows were new."""
        tenant = TenantContext(tenant_id=TenantId(event.tenant_id))
        now = self._clock.now()
        tenant_name = await self._directory.tenant_name(event.tenant_id)
        recipients = [] if event.mandatory else await self._recipients(event)
        channel_addresses = {
            r.user_id: await self._addresses.addresses(event.tenant_id, r.user_id)
            for r in recipients
        }
        added = 0
        async with self._database.unit_of_work(tenant) as uow:
            if event.mandatory:
                plans = self._mandatory_plan(event, now)
            else:
                documents = await PreferenceRepository(uow.session, tenant).documents(
                    [r.user_id for r in recipients]
                )
                plans = [
                    plan
                    for r in recipients
                    for plan in self._plan(
                        event, r, documents.get(r.user_id), channel_addresses[r.user_id], now
                    )
                ]
            outbox = OutboxRepository(uow.session, tenant)
            for plan in plans:
                added += await outbox.add_if_absent(self._row(event, plan, tenant_name, now))
        if added and self._on_queued is not None:
            self._on_queued()
        return added

    async def _recipients(self, event: NotifyEvent) -> Sequence[Recipient]:
        if event.user_id is None:
            return await self._directory.members(event.tenant_id)
        user = await self._directory.user(event.tenant_id, event.user_id)
        return [] if user is None else [user]

    def _mandatory_plan(self, event: NotifyEvent, now: datetime) -> list[Planned]:
        if "email" not in self._channels.names or event.email is None:
            return []
        return [
            Planned(event.email.lower(), event.user_id, "email", event.email, event.locale, now)
        ]

    def _plan(
        self,
        event: NotifyEvent,
        recipient: Recipient,
        document: dict[str, Any] | None,
        addresses: Any,
        now: datetime,
    ) -> list[Planned]:
        preferences = Preferences.model_validate(document or {})
        if event.only_channel is not None:
            channels: Sequence[str] = (event.only_channel,)
            deliver_at = now
        else:
            channels = preferences.channels_for(event.kind, event.severity, event.symbol)
            deliver_at = preferences.deliver_at(event.severity, now, zone_of(recipient.timezone))
        plans: list[Planned] = []
        for channel in channels:
            if channel not in self._channels.names:
                continue
            targets = [recipient.email] if channel == "email" else list(addresses.get(channel, ()))
            plans.extend(
                Planned(
                    recipient.user_id,
                    recipient.user_id,
                    channel,
                    address,
                    recipient.locale,
                    deliver_at,
                )
                for address in targets
                if address
            )
        return plans

    def _row(
        self, event: NotifyEvent, plan: Planned, tenant_name: str, now: datetime
    ) -> dict[str, Any]:
        data = {**event.data, "tenant_name": tenant_name or "ChainFlow"}
        rendered = self._renderer.render(event.kind, plan.channel, plan.locale, data)
        meta = {"kind": event.kind, "from_name": tenant_name}
        if event.sensitive:
            meta["sensitive"] = "1"
        if not event.mandatory:
            meta["unsubscribe_url"] = self._unsubscribe_url
        return {
            "id": new_id(),
            "idempotency_key": idempotency_key(
                event.event_id, plan.recipient, plan.channel, plan.address
            ),
            "event_id": event.event_id,
            "event_type": event.kind,
            "user_id": plan.user_id,
            "channel": plan.channel,
            "address": plan.address,
            "severity": event.severity,
            "subject": rendered.subject,
            "body_text": rendered.text,
            "body_html": rendered.html,
            "meta": meta,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": plan.deliver_at,
            "event_at": datetime.fromtimestamp(event.occurred_at_ms / 1000, tz=UTC),
            "created_at": now,
            "updated_at": now,
        }
