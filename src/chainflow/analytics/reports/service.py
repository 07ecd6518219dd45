"""Report preferences, the scheduler's rounds, send-now, and the PDF of a reference.

**Exactly one report per (user, period).** A round reads the subscriptions whose
``next_due_at`` has passed, takes each user's last complete period in their current time
zone and, when it ends after ``sent_through``, queues the e-mail under a key derived from
(tenant, user, period): the outbox keeps one row per key, so a round repeated after a
crash (the outbox row written, ``sent_through`` not yet) queues nothing new. Then it
records ``sent_through`` and the next period's end as ``next_due_at``. A user who turns
reports on gets the first one when the running period ends, not one for the period before.
``send-now`` queues the last complete period at once under a fresh key, outside the schedule.

The e-mail (subject, text, HTML) is rendered when queued; the PDF is not stored: the
outbox row carries ``analytics_report:<reference>`` and ``attachments`` renders it when
the e-mail is sent, from the same figures (a closed period's trades no longer change).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from chainflow.analytics.reports.email_body import render_email
from chainflow.analytics.reports.errors import (
    ReportDeliveryUnavailableError,
    ReportRecipientUnknownError,
)
from chainflow.analytics.reports.pdf import pdf_filename, render_pdf
from chainflow.analytics.reports.periods import (
    ReportKind,
    ReportPeriod,
    ReportSetting,
    is_report_kind,
    last_complete,
    parse_reference,
    period_containing,
    reference_of,
    zone_named,
)
from chainflow.analytics.reports.ports import (
    ReportMessage,
    ReportOutbox,
    ReportRecipient,
    ReportRecipients,
)
from chainflow.analytics.reports.repository import DueSubscriptions, SubscriptionRepository
from chainflow.analytics.reports.source import ReportFigureSource
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, new_id
from chainflow.core.logging import get_logger
from chainflow.core.tenancy import TenantContext
from chainflow.storage.relational import Database

log = get_logger("chainflow.analytics.reports")

ATTACHMENT_KIND = "analytics_report"
PDF_TYPE = "application/pdf"
DUE_BATCH = 500


@dataclass(frozen=True, slots=True)
class ReportPreferences:
    period: ReportSetting
    timezone: str
    next_report_at: datetime | None  # when the next scheduled report is queued


@dataclass(frozen=True, slots=True)
class QueuedReport:
    period: ReportPeriod
    queued: bool


@dataclass(frozen=True, slots=True)
class ReportFile:
    filename: str
    content_type: str
    data: bytes


def report_key(reference: str, *, manual: str = "") -> str:
    """Return the outbox key of a report (``manual``: a send-now's own id)."""
    raw = "\n".join((ATTACHMENT_KIND, reference, manual))
    return hashlib.sha256(raw.encode()).hexdigest()


def _tenant(tenant_id: str) -> TenantContext:
    return TenantContext(tenant_id=TenantId(tenant_id))


class ReportService:
    """One per process, built by the runtime."""

    def __init__(
        self,
        *,
        database: Database,
        figures: ReportFigureSource,
        recipients: ReportRecipients,
        outbox: ReportOutbox,
        clock: Clock,
        settings_url: str,
    ) -> None:
        self._database = database
        self._figures = figures
        self._recipients = recipients
        self._outbox = outbox
        self._clock = clock
        self._settings_url = settings_url

    async def _recipient(self, tenant_id: str, user_id: str) -> ReportRecipient:
        recipient = await self._recipients.recipient(tenant_id, user_id)
        if recipient is None:
            raise ReportRecipientUnknownError(
                f"expected an active user of this tenant; received {user_id[:64]!r}"
            )
        return recipient

    # Preferences --------------------------------------------------------------------------
    async def preferences(self, tenant_id: str, user_id: str) -> ReportPreferences:
        """Return the user's report setting (``off`` when never set)."""
        recipient = await self._recipient(tenant_id, user_id)
        async with self._database.unit_of_work(_tenant(tenant_id), read_only=True) as uow:
            row = await SubscriptionRepository(uow.session, _tenant(tenant_id)).find(user_id)
        period = "off" if row is None else row.period
        return self._preferences(period, recipient)

    def _preferences(self, period: str, recipient: ReportRecipient) -> ReportPreferences:
        zone = zone_named(recipient.timezone)
        if is_report_kind(period):
            next_at = period_containing(period, self._clock.now(), zone).end
            return ReportPreferences(period=period, timezone=zone.key, next_report_at=next_at)
        return ReportPreferences(period="off", timezone=zone.key, next_report_at=None)

    async def set_preferences(
        self, tenant_id: str, user_id: str, period: ReportSetting
    ) -> ReportPreferences:
        """Store the user's setting; turning a period on schedules the running period's
        report (kept as it is when the period does not change)."""
        recipient = await self._recipient(tenant_id, user_id)
        now = self._clock.now()
        tenant = _tenant(tenant_id)
        async with self._database.unit_of_work(tenant) as uow:
            repository = SubscriptionRepository(uow.session, tenant)
            row = await repository.find(user_id)
            if period == "off":
                sent = None if row is None else row.sent_through
                await repository.save(user_id, period="off", sent_through=sent, next_due_at=None)
            elif row is None or row.period != period:
                current = period_containing(period, now, zone_named(recipient.timezone))
                await repository.save(
                    user_id, period=period, sent_through=current.start, next_due_at=current.end
                )
        return self._preferences(period, recipient)

    # Sending ------------------------------------------------------------------------------
    async def _queue(
        self, tenant_id: str, recipient: ReportRecipient, period: ReportPeriod, manual: str
    ) -> bool:
        reference = reference_of(tenant_id, recipient.user_id, period)
        figures = await self._figures.figures(tenant_id, period)
        email = render_email(
            figures,
            tenant_name=recipient.tenant_name,
            zone=zone_named(recipient.timezone).key,
            settings_url=self._settings_url,
        )
        message = ReportMessage(
            key=report_key(reference, manual=manual),
            tenant_id=tenant_id,
            user_id=recipient.user_id,
            address=recipient.email,
            subject=email.subject,
            text=email.text,
            html=email.html,
            from_name=recipient.tenant_name,
            attachments=f"{ATTACHMENT_KIND}:{reference}",
            meta={"report_period": period.kind, "report_start": period.start.isoformat()},
        )
        return await self._outbox.queue(message)

    async def send_now(self, tenant_id: str, user_id: str, kind: ReportKind) -> QueuedReport:
        """Queue the user's report of their last complete ``kind`` period now."""
        if not self._outbox.available:
            raise ReportDeliveryUnavailableError(
                "reports are sent by e-mail, which is not configured in this deployment"
            )
        recipient = await self._recipient(tenant_id, user_id)
        period = last_complete(kind, self._clock.now(), zone_named(recipient.timezone))
        queued = await self._queue(tenant_id, recipient, period, manual=new_id())
        return QueuedReport(period=period, queued=queued)

    async def send_due(self) -> int:
        """Queue every due scheduled report; return how many e-mails were new."""
        if not self._outbox.available:
            return 0
        now = self._clock.now()
        async with self._database.unit_of_work(system=True, read_only=True) as uow:
            due = [
                (row.tenant_id, row.user_id, row.period, row.sent_through)
                for row in await DueSubscriptions(uow.session).due(now, DUE_BATCH)
            ]
        queued = 0
        for tenant_id, user_id, period, sent_through in due:
            try:
                queued += await self._send_scheduled(tenant_id, user_id, period, sent_through, now)
            except Exception:  # the row stays due: the next round tries again
                log.exception("analytics_report_failed", tenant_id=tenant_id, user_id=user_id)
        if queued:
            log.info("analytics_reports_queued", reports=queued)
        return queued

    async def _send_scheduled(
        self,
        tenant_id: str,
        user_id: str,
        setting: str,
        sent_through: datetime | None,
        now: datetime,
    ) -> int:
        kind: ReportKind = "weekly" if setting == "weekly" else "daily"
        recipient = await self._recipients.recipient(tenant_id, user_id)
        zone = zone_named(recipient.timezone if recipient is not None else None)
        period = last_complete(kind, now, zone)
        queued = False
        if recipient is not None and (sent_through is None or period.end > sent_through):
            queued = await self._queue(tenant_id, recipient, period, manual="")
            sent_through = period.end
        next_due = period_containing(kind, now, zone).end
        tenant = _tenant(tenant_id)
        async with self._database.unit_of_work(tenant) as uow:
            await SubscriptionRepository(uow.session, tenant).mark(
                user_id, period=setting, sent_through=sent_through, next_due_at=next_due, now=now
            )
        return int(queued)

    # Attachments --------------------------------------------------------------------------
    async def attachments(self, reference: str) -> list[ReportFile]:
        """Return the PDF of a report reference (the e-mail channel's attachment source)."""
        tenant_id, user_id, period = parse_reference(reference)
        recipient = await self._recipients.recipient(tenant_id, user_id)
        tenant_name = recipient.tenant_name if recipient is not None else ""
        zone = zone_named(recipient.timezone if recipient is not None else None).key
        figures = await self._figures.figures(tenant_id, period)
        data = render_pdf(figures, tenant_name=tenant_name, zone=zone)
        return [ReportFile(pdf_filename(figures), PDF_TYPE, data)]
