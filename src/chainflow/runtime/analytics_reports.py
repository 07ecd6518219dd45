"""Scheduled performance reports, composed from analytics and the notification hub.

Analytics renders the figures, the e-mail and the PDF (``chainflow.analytics.reports``);
the hub delivers them. This module is the glue neither service may hold: the users a
report goes to (the hub's directory of the users service), the outbox a report is queued
in (``notify.direct.DirectOutbox``), the PDF source registered on the e-mail channel, and the
scheduler task that queues due reports every ``CHAINFLOW_ANALYTICS_REPORT_CHECK_S``.

Reports need the hub with e-mail in this process: without it the preferences still save,
``send-now`` answers 503 and no scheduler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter

from chainflow.analytics.reports.ports import ReportMessage, ReportRecipient
from chainflow.analytics.reports.routes import build_reports_router
from chainflow.analytics.reports.service import ATTACHMENT_KIND, ReportService
from chainflow.analytics.reports.source import ReportFigureSource
from chainflow.analytics.service import AnalyticsService
from chainflow.core.logging import get_logger
from chainflow.notify.api import DirectMessage, RecipientDirectory
from chainflow.notify.channels.email import Attachment, SmtpEmailChannel
from chainflow.notify.direct import DirectOutbox
from chainflow.runtime.notify_wiring import UsersDirectory

if TYPE_CHECKING:
    from chainflow.notify.service import NotifyService
    from chainflow.runtime.kernel import Kernel

log = get_logger("chainflow.runtime.analytics_reports")

Hook = Callable[[], Awaitable[None]]


class DirectoryRecipients:
    """Report recipients: the active users of the hub's directory."""

    def __init__(self, directory: RecipientDirectory) -> None:
        self._directory = directory

    async def recipient(self, tenant_id: str, user_id: str) -> ReportRecipient | None:
        user = await self._directory.user(tenant_id, user_id)
        if user is None:
            return None
        return ReportRecipient(
            user_id=user.user_id,
            email=user.email,
            timezone=user.timezone,
            tenant_name=user.tenant_name,
        )


class HubOutbox:
    """Report e-mails queued in the hub's outbox (unavailable without e-mail here)."""

    def __init__(self, outbox: DirectOutbox | None, unsubscribe_url: str) -> None:
        self._outbox = outbox
        self._unsubscribe_url = unsubscribe_url

    @property
    def available(self) -> bool:
        return self._outbox is not None and self._outbox.accepts("email")

    async def queue(self, message: ReportMessage) -> bool:
        if self._outbox is None:
            return False
        meta = {
            **message.meta,
            "from_name": message.from_name,
            "attachments": message.attachments,
            "unsubscribe_url": self._unsubscribe_url,
        }
        direct = DirectMessage(
            idempotency_key=message.key,
            tenant_id=message.tenant_id,
            user_id=message.user_id,
            channel="email",
            address=message.address,
            kind=ATTACHMENT_KIND,
            subject=message.subject,
            text=message.text,
            html=message.html,
            meta=meta,
        )
        return await self._outbox.queue(direct)


class ReportPdfs:
    """The e-mail channel's source of ``analytics_report:<reference>`` attachments."""

    def __init__(self, service: ReportService) -> None:
        self._service = service

    async def attachments(self, reference: str) -> Sequence[Attachment]:
        files = await self._service.attachments(reference)
        return [Attachment(f.filename, f.content_type, f.data) for f in files]


class ReportScheduler:
    """Queues due reports every ``interval_s`` (the service makes each one exactly once)."""

    def __init__(self, service: ReportService, interval_s: float) -> None:
        self._service = service
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-reports")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._service.send_due()
            except Exception:  # the rows stay due: the next round tries again
                log.exception("analytics_reports_round_failed")
            await asyncio.sleep(self._interval_s)


class AnalyticsReports:
    """The report service, its router and scheduler, and the PDF source on the e-mail
    channel of the kernel's hub."""

    def __init__(
        self, kernel: Kernel, analytics: AnalyticsService, *, notify: NotifyService | None
    ) -> None:
        infra = kernel.infra
        base_url = kernel.settings.notify.public_base_url.rstrip("/")
        settings_url = f"{base_url}/settings/reports"
        outbox = None
        if notify is not None:
            outbox = DirectOutbox(
                database=infra.database,
                clock=kernel.clock,
                channels=notify.channels.names,
                on_queued=notify.worker.wake,
            )
        hub_outbox = HubOutbox(outbox, settings_url)
        self.service = ReportService(
            database=infra.database,
            figures=ReportFigureSource(analytics=analytics, store=infra.timeseries),
            recipients=DirectoryRecipients(UsersDirectory(infra.database)),
            outbox=hub_outbox,
            clock=kernel.clock,
            settings_url=settings_url,
        )
        email = None if notify is None else notify.channels.get("email")
        if isinstance(email, SmtpEmailChannel):
            email.register_attachments(ATTACHMENT_KIND, ReportPdfs(self.service))
        self.scheduler: ReportScheduler | None = None
        if hub_outbox.available:
            self.scheduler = ReportScheduler(self.service, kernel.settings.analytics.report_check_s)

    def router(self) -> APIRouter:
        return build_reports_router(service=self.service)

    def start_after(self, start: Hook) -> Hook:
        async def started() -> None:
            await start()
            if self.scheduler is not None:
                await self.scheduler.start()

        return started

    def stop_before(self, stop: Hook) -> Hook:
        async def stopped() -> None:
            if self.scheduler is not None:
                await self.scheduler.stop()
            await stop()

        return stopped
