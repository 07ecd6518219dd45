"""The hub's API for routes: delivery log, retry, test-send, preview, preferences."""

from __future__ import annotations

from chainflow.core.auth import Principal, TierLimits
from chainflow.core.clock import Clock
from chainflow.core.ids import new_id
from chainflow.core.tenancy import TenantContext
from chainflow.notify.channels.registry import ChannelRegistry
from chainflow.notify.delivery import DeliveryWorker
from chainflow.notify.errors import (
    ChannelUnavailableError,
    NotificationNotFoundError,
    NotificationNotRetryableError,
    UnknownTemplateError,
)
from chainflow.notify.events import NotifyEvent
from chainflow.notify.intake import OutboxWriter
from chainflow.notify.overrides import TemplateOverrides, pick
from chainflow.notify.preferences import Preferences
from chainflow.notify.repository import OutboxRepository, PreferenceRepository
from chainflow.notify.schemas import NotificationRead, PreviewCreate, PreviewRead
from chainflow.notify.templates import SAMPLE_DATA, TemplateRenderer
from chainflow.notify.tiers import check_channels
from chainflow.storage.relational import Database

__all__ = ["NotifyService"]


class NotifyService:
    """One per process, built by the runtime; every method acts for the caller only."""

    def __init__(
        self,
        *,
        database: Database,
        writer: OutboxWriter,
        worker: DeliveryWorker,
        channels: ChannelRegistry,
        renderer: TemplateRenderer,
        clock: Clock,
    ) -> None:
        self._database = database
        self.writer = writer
        self.worker = worker
        self.channels = channels
        self._renderer = renderer
        self._clock = clock
        self.templates = TemplateOverrides(database=database, renderer=renderer)

    def now_ms(self) -> int:
        """Return the injected clock's time (epoch milliseconds)."""
        return self._clock.now_ms()

    async def log(
        self, principal: Principal, *, limit: int, state: str | None
    ) -> list[NotificationRead]:
        """Return the caller's notifications, newest first."""
        return await self.log_of(principal.tenant, principal.user_id, limit=limit, state=state)

    async def log_of(
        self, tenant: TenantContext, user_id: str, *, limit: int, state: str | None
    ) -> list[NotificationRead]:
        """Return the notifications of ``user_id``, newest first (the operator's CLI)."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            rows = await OutboxRepository(uow.session, tenant).for_user(
                user_id, limit=limit, state=state
            )
            return [NotificationRead.model_validate(row) for row in rows]

    async def retry(self, principal: Principal, notification_id: str) -> NotificationRead:
        """Queue the caller's failed or dead notification again, with a fresh try budget."""
        tenant = principal.tenant
        async with self._database.unit_of_work(tenant) as uow:
            outbox = OutboxRepository(uow.session, tenant)
            row = await outbox.find(notification_id)
            if row is None or row.user_id != principal.user_id:
                raise NotificationNotFoundError(
                    f"expected the id of one of your notifications; received "
                    f"{notification_id[:64]!r}"
                )
            if not await outbox.requeue(notification_id, at=self._clock.now()):
                raise NotificationNotRetryableError(
                    f"expected a failed or dead notification; this one is {row.state}",
                    details={"state": row.state},
                )
            await uow.session.refresh(row)
            read = NotificationRead.model_validate(row)
        self.worker.wake()
        return read

    async def test_send(self, principal: Principal, channel: str) -> int:
        """Queue a test message to the caller on ``channel``; return how many were queued."""
        return await self.send_test(principal.tenant_id, principal.user_id, channel)

    async def send_test(self, tenant_id: str, user_id: str, channel: str) -> int:
        """Queue a test message to ``user_id`` on ``channel``; return how many were queued."""
        if channel not in self.channels.names:
            raise ChannelUnavailableError(
                f"expected a channel configured here ({', '.join(sorted(self.channels.names))}"
                f"); received {channel!r}"
            )
        event = NotifyEvent(
            event_id=new_id(),
            kind="test",
            tenant_id=tenant_id,
            severity="info",
            occurred_at_ms=self._clock.now_ms(),
            data={},
            user_id=user_id,
            only_channel=channel,
        )
        queued = await self.writer.accept(event)
        if not queued:
            raise ChannelUnavailableError(
                f"expected an address of yours on {channel!r}; you have none linked"
            )
        return queued

    async def preview(self, tenant: TenantContext, request: PreviewCreate) -> PreviewRead:
        """Render a template (the tenant's override, if any) with the given data, or the
        kind's sample data."""
        if request.kind not in SAMPLE_DATA and request.data is None:
            raise UnknownTemplateError(
                f"expected a kind from {', '.join(sorted(SAMPLE_DATA))}; received "
                f"{request.kind[:64]!r}"
            )
        data = {
            "tenant_name": "Acme Trading",
            **SAMPLE_DATA.get(request.kind, {}),
            **(request.data or {}),
        }
        overrides = await self.templates.for_kind(tenant, request.kind)
        override = pick(overrides, request.channel, self._renderer.locale_of(request.locale))
        rendered = self._renderer.render(
            request.kind, request.channel, request.locale, data, override
        )
        return PreviewRead(subject=rendered.subject, text=rendered.text, html=rendered.html)

    async def preferences(self, tenant: TenantContext, user_id: str) -> Preferences:
        """Return the user's preferences (the defaults when none were stored)."""
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            documents = await PreferenceRepository(uow.session, tenant).documents([user_id])
        return Preferences.model_validate(documents.get(user_id, {}))

    async def save_preferences(self, principal: Principal, preferences: Preferences) -> Preferences:
        """Replace the caller's preferences; raise ``ChannelNotInTierError`` (403) when they
        enable a channel the tenant's tier does not include."""
        return await self.store_preferences(
            principal.tenant,
            str(principal.user_id),
            preferences,
            limits=principal.limits,
            tier=principal.tier.value,
        )

    async def store_preferences(
        self,
        tenant: TenantContext,
        user_id: str,
        preferences: Preferences,
        *,
        limits: TierLimits,
        tier: str,
    ) -> Preferences:
        """Replace ``user_id``'s preferences after the tier check (the API and the CLI)."""
        check_channels(limits, tier, preferences.channels_used())
        async with self._database.unit_of_work(tenant) as uow:
            await PreferenceRepository(uow.session, tenant).save(
                user_id, preferences.model_dump(mode="json")
            )
        return preferences
