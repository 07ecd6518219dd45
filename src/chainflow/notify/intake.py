"""Turn one event into outbox rows: recipients, preferences, channels, rendered messages.

``accept`` resolves the recipients first, then writes every row in one tenant unit of work
(keyed by ``idempotency_key``, so a redelivered event adds nothing) and returns once it has
committed: a bus consumer acks only after that. A recipient in digest mode has the event
held for their digest instead (``digest.DigestRepository``); channels their tenant's tier
does not include are left out (``tiers``); the tenant's template overrides apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from chainflow.core.auth import TierLimits
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, new_id
from chainflow.core.tenancy import TenantContext
from chainflow.notify.channels.registry import ChannelRegistry
from chainflow.notify.digest import NEVER_DIGESTED, DigestRepository
from chainflow.notify.directory import AddressBook, Recipient, RecipientDirectory
from chainflow.notify.events import NotifyEvent, idempotency_key
from chainflow.notify.overrides import OverrideKey, TemplateOverrideRepository, pick
from chainflow.notify.preferences import Preferences, zone_of
from chainflow.notify.repository import OutboxRepository, PreferenceRepository
from chainflow.notify.templates import Rendered, TemplateOverride, TemplateRenderer
from chainflow.notify.tiers import allowed_channels
from chainflow.storage.relational import Database

__all__ = ["OutboxWriter", "Planned", "TenantLimits"]


class TenantLimits(Protocol):
    async def limits(self, tenant_id: str) -> TierLimits | None:
        """Return the tenant's tier limits (with its overrides), or None when unknown."""
        ...


@dataclass(frozen=True, slots=True)
class Planned:
    """One message to queue: who, where, when."""

    recipient: str  # user id, or the fixed address of a mandatory event
    user_id: str | None
    channel: str
    address: str
    locale: str | None
    deliver_at: datetime
    digest_due: datetime | None = None  # held for the digest sent at this boundary
    digest_period: str = "off"


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
        tiers: TenantLimits | None = None,
    ) -> None:
        self._database = database
        self._directory = directory
        self._addresses = addresses
        self._channels = channels
        self._renderer = renderer
        self._clock = clock
        self._unsubscribe_url = unsubscribe_url
        self._on_queued = on_queued
        self._tiers = tiers

    async def accept(self, event: NotifyEvent) -> int:
        """Queue ``event``'s messages (or hold them for digests); return how many rows
        (outbox rows and held digest items) were new."""
        tenant = TenantContext(tenant_id=TenantId(event.tenant_id))
        now = self._clock.now()
        tenant_name = await self._directory.tenant_name(event.tenant_id)
        recipients = [] if event.mandatory else await self._recipients(event)
        channel_addresses = {
            r.user_id: await self._addresses.addresses(event.tenant_id, r.user_id)
            for r in recipients
        }
        limits = None
        if recipients and self._tiers is not None:
            limits = await self._tiers.limits(event.tenant_id)
        queued = held = 0
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
                        event,
                        r,
                        documents.get(r.user_id),
                        channel_addresses[r.user_id],
                        now,
                        limits,
                    )
                ]
            overrides: Mapping[OverrideKey, TemplateOverride] = {}
            if plans:
                overrides = await TemplateOverrideRepository(uow.session, tenant).overrides(
                    event.kind
                )
            outbox = OutboxRepository(uow.session, tenant)
            digests = DigestRepository(uow.session, tenant)
            for plan in plans:
                rendered = self._rendered(event, plan, tenant_name, overrides)
                if plan.digest_due is not None:
                    item = self._held(event, plan, rendered, plan.digest_due)
                    held += await digests.add_if_absent(item)
                else:
                    row = self._row(event, plan, tenant_name, rendered, now)
                    queued += await outbox.add_if_absent(row)
        if queued and self._on_queued is not None:
            self._on_queued()
        return queued + held

    async def _recipients(self, event: NotifyEvent) -> Sequence[Recipient]:
        if event.user_id is None:
            members = await self._directory.members(event.tenant_id)
            if event.roles:
                return [m for m in members if m.role in event.roles]
            return members
        user = await self._directory.user(event.tenant_id, event.user_id)
        return [] if user is None else [user]

    def _mandatory_plan(self, event: NotifyEvent, now: datetime) -> list[Planned]:
        if event.phone is not None:  # a phone's one-time code
            if "sms" not in self._channels.names:
                return []
            return [Planned(event.phone, event.user_id, "sms", event.phone, event.locale, now)]
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
        limits: TierLimits | None,
    ) -> list[Planned]:
        preferences = Preferences.model_validate(document or {})
        digest_due = None
        zone = zone_of(recipient.timezone)
        if event.only_channel is not None:
            channels: Sequence[str] = (event.only_channel,)
            deliver_at = now
        else:
            channels = preferences.channels_for(event.kind, event.severity, event.symbol)
            if limits is not None:
                allowed = allowed_channels(limits, preferences.channels_used())
                channels = [c for c in channels if c in allowed]
            deliver_at = preferences.deliver_at(event.severity, now, zone)
            if event.kind not in NEVER_DIGESTED:
                digest_due = preferences.digest_due(event.severity, now, zone)
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
                    digest_due,
                    preferences.digest,
                )
                for address in targets
                if address
            )
        return plans

    def _rendered(
        self,
        event: NotifyEvent,
        plan: Planned,
        tenant_name: str,
        overrides: Mapping[OverrideKey, TemplateOverride],
    ) -> Rendered:
        data = {**event.data, "tenant_name": tenant_name or "ChainFlow"}
        override = pick(overrides, plan.channel, self._renderer.locale_of(plan.locale))
        return self._renderer.render(event.kind, plan.channel, plan.locale, data, override)

    def _held(
        self, event: NotifyEvent, plan: Planned, rendered: Rendered, due_at: datetime
    ) -> dict[str, Any]:
        now = self._clock.now()
        return {
            "id": new_id(),
            "idempotency_key": idempotency_key(
                event.event_id, plan.recipient, plan.channel, plan.address
            ),
            "user_id": plan.recipient,
            "channel": plan.channel,
            "address": plan.address,
            "locale": self._renderer.locale_of(plan.locale),
            "event_type": event.kind,
            "severity": event.severity,
            "subject": rendered.subject,
            "event_at": datetime.fromtimestamp(event.occurred_at_ms / 1000, tz=UTC),
            "due_at": due_at,
            "period": plan.digest_period,
            "created_at": now,
            "updated_at": now,
        }

    def _row(
        self,
        event: NotifyEvent,
        plan: Planned,
        tenant_name: str,
        rendered: Rendered,
        now: datetime,
    ) -> dict[str, Any]:
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
