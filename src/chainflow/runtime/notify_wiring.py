"""Build the notification hub from the kernel: channels, outbox writer, worker, consumers,
the Telegram bot and the router."""

from __future__ import annotations

import json
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter

from chainflow.backtest.service import job_finished_topic
from chainflow.bridge.api import all_connections
from chainflow.core.auth import TIER_LIMITS, Tier, TierLimits
from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.messages import topic
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import EventBus
from chainflow.ml.events import alerts_topic
from chainflow.notify.api import PARSERS, DeliveryResult, EventSource, Recipient
from chainflow.notify.channels.email import SmtpEmailChannel
from chainflow.notify.channels.push import PushChannel
from chainflow.notify.channels.registry import ChannelRegistry
from chainflow.notify.channels.sms import SmsChannel
from chainflow.notify.channels.telegram import TelegramChannel
from chainflow.notify.consumers import EventConsumers
from chainflow.notify.delivery import Claimed, DeliveryWorker
from chainflow.notify.device_routes import build_device_router
from chainflow.notify.devices import DeviceBook
from chainflow.notify.digest import DigestFlusher
from chainflow.notify.directory import AddressBook, AddressBooks
from chainflow.notify.intake import OutboxWriter
from chainflow.notify.metrics import NotifyMetrics
from chainflow.notify.model_alerts import model_alert_source
from chainflow.notify.operator import Account, NotifyOperator
from chainflow.notify.routes import build_notify_router
from chainflow.notify.security import KnownAddresses
from chainflow.notify.service import NotifyService
from chainflow.notify.telegram_bot.data import TenantData, TradingData
from chainflow.notify.template_routes import build_template_router
from chainflow.notify.templates import TemplateRenderer
from chainflow.notify.terminals import TerminalWatch
from chainflow.runtime.component import ServiceComponent
from chainflow.runtime.notify_telegram import TelegramBot
from chainflow.storage.relational import Database
from chainflow.trading.events import risk_events_topic
from chainflow.users.billing.events import (
    payment_failed_topic,
    renewal_due_topic,
    subscription_expiring_topic,
)
from chainflow.users.events import (
    api_key_created_topic,
    duplicate_registration_attempted_topic,
    email_changed_topic,
    invitation_created_topic,
    password_changed_topic,
    password_reset_requested_topic,
    sign_in_locked_topic,
    signed_in_topic,
    verification_requested_topic,
)
from chainflow.users.identity import normalize_email, validate_timezone
from chainflow.users.repository import (
    ApiKeyRepository,
    CrossTenantLookup,
    TenantRecordRepository,
    UserRepository,
)

if TYPE_CHECKING:
    from chainflow.ml.live.model_cache import ServedModels
    from chainflow.runtime.kernel import Kernel
    from chainflow.trading.service import TradingService

log = get_logger("chainflow.runtime.notify_wiring")


def _any_tenant(subject_of_one: str) -> str:
    """Return the wildcard of a per-tenant topic: its last token replaced by ``*``."""
    return subject_of_one.rpartition(".")[0] + ".*"


def binding_disabled_topic(tenant_id: str) -> str:
    return topic("notify", "binding", "disabled", tokens=(tenant_id,))


def event_sources(known_addresses: KnownAddresses | None = None) -> list[EventSource]:
    """Return the durable consumers of the hub: each subject with its parser (sign-ins
    only with ``known_addresses``, their gate)."""
    sign_ins = (
        []
        if known_addresses is None
        else [
            EventSource(
                "notify-new-sign-in",
                signed_in_topic(),
                PARSERS["new_sign_in"],
                gate=known_addresses.screen,
            )
        ]
    )
    return [
        *sign_ins,
        EventSource("notify-api-key-created", api_key_created_topic(), PARSERS["api_key_created"]),
        EventSource(
            "notify-password-changed", password_changed_topic(), PARSERS["password_changed"]
        ),
        EventSource("notify-email-changed", email_changed_topic(), PARSERS["email_changed"]),
        EventSource("notify-verification", verification_requested_topic(), PARSERS["verification"]),
        EventSource(
            "notify-password-reset", password_reset_requested_topic(), PARSERS["password_reset"]
        ),
        EventSource("notify-invitation", invitation_created_topic(), PARSERS["invitation"]),
        EventSource("notify-sign-in-locked", sign_in_locked_topic(), PARSERS["sign_in_locked"]),
        EventSource(
            "notify-duplicate-registration",
            duplicate_registration_attempted_topic(),
            PARSERS["duplicate_registration"],
        ),
        EventSource(
            "notify-circuit-breaker",
            _any_tenant(risk_events_topic("t")),
            PARSERS["circuit_breaker"],
        ),
        model_alert_source(_any_tenant(alerts_topic("t"))),
        EventSource(
            "notify-backtest-finished",
            _any_tenant(job_finished_topic("t")),
            PARSERS["backtest_finished"],
        ),
        EventSource(
            "notify-binding-disabled",
            _any_tenant(binding_disabled_topic("t")),
            PARSERS["binding_disabled"],
        ),
        EventSource("notify-renewal-due", renewal_due_topic(), PARSERS["renewal_due"]),
        EventSource("notify-payment-failed", payment_failed_topic(), PARSERS["payment_failed"]),
        EventSource(
            "notify-subscription-expiring",
            subscription_expiring_topic(),
            PARSERS["subscription_expiring"],
        ),
    ]


class UsersDirectory:
    """The recipients of a tenant, read through the users service's repositories."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def user(self, tenant_id: str, user_id: str) -> Recipient | None:
        found = [r for r in await self.members(tenant_id) if r.user_id == user_id]
        return found[0] if found else None

    async def members(self, tenant_id: str) -> Sequence[Recipient]:
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            users = await UserRepository(uow.session, tenant).list_members()
            record = await TenantRecordRepository(uow.session).get(tenant_id)
            name = record.name if record is not None else ""
            return [
                Recipient(
                    user_id=u.id,
                    tenant_id=u.tenant_id,
                    email=u.email,
                    locale=u.locale,
                    timezone=u.timezone,
                    role=u.role,
                    tenant_name=name,
                )
                for u in users
                if u.is_active
            ]

    async def tenant_name(self, tenant_id: str) -> str:
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            record = await TenantRecordRepository(uow.session).get(tenant_id)
        return record.name if record is not None else ""

    async def limits(self, tenant_id: str) -> TierLimits | None:
        """Return the tenant's tier limits with its stored overrides (None: no tenant)."""
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            record = await TenantRecordRepository(uow.session).get(tenant_id)
        if record is None:
            return None
        return TIER_LIMITS[Tier(record.tier)].with_overrides(dict(record.limit_overrides or {}))

    async def api_key_name(self, tenant_id: str, api_key_id: str) -> str:
        """Return the name of an active API key (a terminal's label), '' when unknown."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        async with self._database.unit_of_work(tenant, read_only=True) as uow:
            key = await ApiKeyRepository(uow.session, tenant).get_active(api_key_id)
        return key.name if key is not None else ""

    async def by_email(self, email: str) -> Account | None:
        """Return the active account of ``email`` (the operator's ``chainflow notify``)."""
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            user = await CrossTenantLookup(uow.session).user_by_email(normalize_email(email))
            record = (
                None
                if user is None
                else await TenantRecordRepository(uow.session).get(user.tenant_id)
            )
        if user is None or record is None or not user.is_active:
            return None
        limits = TIER_LIMITS[Tier(record.tier)].with_overrides(dict(record.limit_overrides or {}))
        return Account(user.tenant_id, user.id, user.email, user.timezone, record.tier, limits)

    async def set_timezone(self, account: Account, timezone: str) -> None:
        async with self._database.unit_of_work(account.tenant) as uow:
            user = await UserRepository(uow.session, account.tenant).get(account.user_id)
            if user is not None:
                user.timezone = validate_timezone(timezone)


def binding_disabled_hook(
    bus: EventBus,
    clock_ms: Callable[[], int],
    telegram: TelegramBot | None,
    devices: DeviceBook | None = None,
) -> Callable[[Claimed, DeliveryResult], Awaitable[None]]:
    """Return the worker hook run when a recipient refused delivery for good (Telegram 403,
    a push subscription gone, a phone that replied STOP).

    A Telegram chat's binding, or the push or SMS device, is disabled first; the user is
    then told by the bus event
    ``notify.binding.disabled.<tenant>``, which the hub consumes like any other (e-mail by
    default, and no longer to the disabled chat). A chat already disabled (several queued
    messages to it failed) is announced once only.
    """

    async def on_disabled(item: Claimed, result: DeliveryResult) -> None:
        reason = result.error or "the recipient refused delivery"
        channel, address = item.message.channel, item.message.address
        if channel == "telegram" and telegram is not None:
            if not await telegram.disable_chat(address, reason):
                return
        elif channel in ("push", "sms") and devices is not None:
            if not await devices.disable(item.tenant_id, channel, address):
                return
        if item.user_id is None:
            return
        body = {
            "tenant_id": item.tenant_id,
            "user_id": item.user_id,
            "channel": item.message.channel,
            "address": item.message.address,
            "reason": reason,
            "ts": clock_ms(),
        }
        await bus.publish(binding_disabled_topic(item.tenant_id), json.dumps(body).encode())

    return on_disabled


def warn_if_email_unconfigured(kernel: Kernel) -> bool:
    """Log a warning when ``prod`` runs without SMTP: verification, password-reset and
    invitation e-mails cannot go out (and admins no longer see tokens). Return whether
    it warned."""
    if kernel.settings.env != "prod" or kernel.settings.notify.smtp_host:
        return False
    log.warning(
        "notify_email_not_configured",
        reason="CHAINFLOW_NOTIFY_SMTP_HOST is empty in prod: verification, password-reset "
        "and invitation e-mails cannot be sent",
    )
    return True


def build_channels(kernel: Kernel) -> ChannelRegistry:
    """Return the channels configured by settings.

    E-mail when an SMTP host is set, Telegram when a bot token is, SMS when an account and
    a sender are, push when a VAPID key or an FCM service account is.
    """
    registry = ChannelRegistry()
    settings = kernel.settings.notify
    if settings.smtp_host:
        tls = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
        registry.add(SmtpEmailChannel(settings, tls_context=tls))
    if settings.telegram_bot_token.get_secret_value():
        registry.add(TelegramChannel(settings, clock=kernel.clock))
    if settings.sms_account_id and settings.sms_from:
        registry.add(SmsChannel(settings))
    vapid = settings.webpush_vapid_private_key.get_secret_value()
    if vapid or settings.fcm_service_account_json.get_secret_value():
        registry.add(PushChannel(settings, clock=kernel.clock))
    return registry


def build_notify_service(
    kernel: Kernel, *, data: TenantData | None = None
) -> tuple[NotifyService, UsersDirectory, DeviceBook, TelegramBot | None]:
    """Build ``NotifyService`` (channels, renderer, outbox writer, delivery worker) without
    starting anything: the component below and the operator's CLI share it. ``data`` is
    what the Telegram bot's commands read (the trading service's, when it runs here)."""
    infra, settings = kernel.infra, kernel.settings.notify
    channels = build_channels(kernel)
    telegram_channel = channels.get("telegram")
    telegram = (
        TelegramBot(kernel, telegram_channel, data=data)
        if isinstance(telegram_channel, TelegramChannel)
        else None
    )
    renderer = TemplateRenderer(
        base_url=settings.public_base_url, default_locale=settings.default_locale
    )
    directory = UsersDirectory(infra.database)
    devices = DeviceBook(database=infra.database, clock=kernel.clock)
    unsubscribe_url = f"{settings.public_base_url.rstrip('/')}/settings/notifications"
    worker = DeliveryWorker(
        database=infra.database,
        channels=channels,
        clock=kernel.clock,
        settings=settings,
        metrics=NotifyMetrics(kernel.metrics_registry),
        on_binding_disabled=binding_disabled_hook(
            infra.bus, kernel.clock.now_ms, telegram, devices
        ),
        digests=DigestFlusher(
            database=infra.database,
            renderer=renderer,
            clock=kernel.clock,
            tenant_name=directory.tenant_name,
            unsubscribe_url=unsubscribe_url,
        ),
    )
    books: list[AddressBook] = [devices] if telegram is None else [telegram, devices]
    writer = OutboxWriter(
        database=infra.database,
        directory=directory,
        addresses=AddressBooks(*books),
        channels=channels,
        renderer=renderer,
        clock=kernel.clock,
        unsubscribe_url=unsubscribe_url,
        on_queued=worker.wake,
        tiers=directory,
    )
    service = NotifyService(
        database=infra.database,
        writer=writer,
        worker=worker,
        channels=channels,
        renderer=renderer,
        clock=kernel.clock,
    )
    return service, directory, devices, telegram


def build_notify_operator(kernel: Kernel) -> NotifyOperator:
    """Return the operator's ``chainflow notify`` tasks on a tool-mode kernel."""
    service, directory, _devices, _telegram = build_notify_service(kernel)
    return NotifyOperator(service=service, accounts=directory)


def build_notify_component(
    kernel: Kernel, *, trading: TradingService | None, models: ServedModels | None
) -> ServiceComponent:
    """Build ``NotifyService``, its worker, consumers, bot, terminal watch and router;
    ``trading`` (and the ml service's ``models``) answer the bot's commands when trading
    runs in this process."""
    infra, settings = kernel.infra, kernel.settings.notify
    data = TradingData(trading, models) if trading is not None else None
    service, directory, devices, telegram = build_notify_service(kernel, data=data)
    worker, writer = service.worker, service.writer
    known = KnownAddresses(database=infra.database, clock=kernel.clock)
    consumers = EventConsumers(infra.bus, writer, event_sources(known))
    terminals = TerminalWatch(
        database=infra.database,
        writer=writer,
        directory=directory,
        clock=kernel.clock,
        offline_min=settings.terminal_offline_min,
        check_s=settings.terminal_check_s,
        terminal_name=directory.api_key_name,
    )
    router = APIRouter()
    if telegram is not None:  # first: its paths are more specific than /{id}/retry
        router.include_router(telegram.router())
    router.include_router(build_template_router(templates=service.templates))
    router.include_router(build_device_router(devices=devices, service=service))
    router.include_router(build_notify_router(service=service))

    async def start() -> None:
        warn_if_email_unconfigured(kernel)
        await consumers.start()
        await terminals.start(infra.bus, all_connections(), durable="notify-terminals")
        if settings.worker_enabled:
            await worker.start()
        if telegram is not None:
            await telegram.start()

    async def stop() -> None:
        if telegram is not None:
            await telegram.stop()
        await terminals.stop()
        await consumers.stop()
        await worker.stop()
        await service.channels.close()

    return ServiceComponent(
        name="notify", router=router, on_start=start, on_stop=stop, parts={"notify": service}
    )
