"""Scheduled reports through the whole runtime: preferences over HTTP, the scheduler on a
simulated clock in Asia/Jakarta (once per local day, not again after a restart), and
report e-mails with their PDF arriving at a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pypdf
import pytest

from chainflow.analytics.reports.periods import ReportPeriod, period_containing, zone_named
from chainflow.core.clock import SimulatedClock
from chainflow.core.settings import AnalyticsSettings
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.analytics.test_routes import round_trip
from tests.fixtures.api_client import logged_in_client
from tests.fixtures.settings import embedded_settings
from tests.notify.hub import USER_PASSWORD, Hub, eventually, log_in, notify_settings
from tests.notify.peers.smtp import SmtpServer, smtp_server

JAKARTA = zone_named("Asia/Jakarta")
HOUR_MS = 3_600_000
ROUNDS_S = 0.6  # a dozen scheduler rounds at report_check_s=0.05


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def clock() -> SimulatedClock:
    # sign-in tokens are checked against the wall clock too: start near it, then move
    return SimulatedClock(int(datetime.now(UTC).timestamp() * 1000))


@asynccontextmanager
async def report_hub(
    home: Path, smtp: SmtpServer, clock: SimulatedClock, *, email: str = "ana@example.com"
) -> AsyncIterator[Hub]:
    """Start the kernel (reports checked every 50 ms); register and sign in ``email``
    unless the home already has a database (a restart)."""
    restart = home.exists()
    settings = embedded_settings(
        home,
        notify=notify_settings(smtp, worker_poll_s=0.05),
        analytics=AnalyticsSettings(report_check_s=0.05),
    )
    kernel = Kernel(settings, clock=clock)
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            if restart:
                yield Hub(http, kernel, "", "", email)
                return
            credentials = {"email": email, "password": USER_PASSWORD}
            registered = await http.post("/api/v1/auth/register", json=credentials)
            assert registered.status_code == 201, registered.text
            await eventually(lambda: len(smtp.sink.messages) == 1)  # the verification
            smtp.sink.messages.clear()
            await log_in(http, credentials)
            body = registered.json()
            profile = await http.patch("/api/v1/users/me", json={"timezone": "Asia/Jakarta"})
            assert profile.status_code == 200, profile.text
            yield Hub(http, kernel, body["tenant_id"], body["user_id"], email)
    finally:
        await kernel.stop()


async def trade_day(hub: Hub, day: ReportPeriod) -> None:
    """Close +100 the day before ``day``, then +100 and -50 inside it (local 10:00, 14:00)."""
    await round_trip(hub.kernel, hub.tenant_id, day.start_ms - 12 * HOUR_MS, exit_bid=1.1012)
    await round_trip(hub.kernel, hub.tenant_id, day.start_ms + 10 * HOUR_MS, exit_bid=1.1012)
    await round_trip(hub.kernel, hub.tenant_id, day.start_ms + 14 * HOUR_MS, exit_bid=1.0997)


def parts(mail: EmailMessage) -> tuple[str, str, bytes]:
    """Return the HTML body, the plain body and the PDF attachment's bytes."""
    html, text = mail.get_body(preferencelist=("html",)), mail.get_body(preferencelist=("plain",))
    assert html is not None and text is not None
    [pdf] = list(mail.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    return html.get_content(), text.get_content(), pdf.get_content()


def pdf_text(data: bytes) -> str:
    return pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()


class TestSendNow:
    async def test_the_report_email_arrives_with_its_pdf(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with report_hub(tmp_path / "home", smtp, clock) as hub:
            today = period_containing("daily", clock.now(), JAKARTA)
            yesterday = period_containing("daily", today.start - timedelta(hours=1), JAKARTA)
            await trade_day(hub, yesterday)

            answer = await hub.http.post("/api/v1/analytics/reports/send-now?period=daily")
            assert answer.status_code == 202, answer.text
            assert answer.json()["queued"] is True
            assert answer.json()["label"] == yesterday.label
            await eventually(lambda: len(smtp.sink.messages) == 1)

        [received] = smtp.sink.messages
        mail = received.message
        assert received.rcpt_tos == ["ana@example.com"]
        assert mail.get_content_type() == "multipart/mixed"
        assert str(mail["Subject"]) == f"Daily report {yesterday.label}: +0.50% over 2 trades"
        html, text, pdf = parts(mail)
        # opening 10,100 (the day before), +100 then -50: +50 = +0.50%, drawdown 50/10,200
        for shown in ("+0.50%", "+50.00", "50.00%", "0.49%", "10,150.00", "Asia/Jakarta"):
            assert shown in html and shown in text
        assert '<td align="right">2</td>' in html
        assert pdf.startswith(b"%PDF")
        shown = pdf_text(pdf)
        assert "Return: +0.50%" in shown and "Trades: 2" in shown and yesterday.label in shown
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_filename() == f"chainflow-daily-report-{yesterday.label}.pdf"

    async def test_without_email_send_now_is_unavailable(self, tmp_path: Path) -> None:
        async with logged_in_client(tmp_path) as (http, _kernel, _tenant):
            answer = await http.post("/api/v1/analytics/reports/send-now?period=weekly")
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "analytics_report_delivery_unavailable"


class TestSchedule:
    async def test_one_report_per_local_day_and_none_again_after_a_restart(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        home = tmp_path / "home"
        async with report_hub(home, smtp, clock) as hub:
            today = period_containing("daily", clock.now(), JAKARTA)
            put = await hub.http.put(
                "/api/v1/analytics/reports/preferences", json={"period": "daily"}
            )
            assert put.status_code == 200, put.text
            assert datetime.fromisoformat(put.json()["next_report_at"]) == today.end
            await trade_day(hub, today)
            await asyncio.sleep(ROUNDS_S)
            assert smtp.sink.messages == []  # the running day is not over

            clock.set_ms(today.end_ms + 30_000)  # 00:00:30 in Jakarta
            await eventually(lambda: len(smtp.sink.messages) == 1)
            await asyncio.sleep(ROUNDS_S)
            assert len(smtp.sink.messages) == 1

        first = smtp.sink.messages[0].message
        assert str(first["Subject"]) == f"Daily report {today.label}: +0.50% over 2 trades"
        assert "Trades: 2" in pdf_text(parts(first)[2])

        clock.advance_ms(60_000)
        async with report_hub(home, smtp, clock):  # a restart within the same local day
            await asyncio.sleep(ROUNDS_S)
            assert len(smtp.sink.messages) == 1

            clock.set_ms(today.end_ms + 24 * HOUR_MS + 30_000)  # the next local midnight
            await eventually(lambda: len(smtp.sink.messages) == 2)
            await asyncio.sleep(ROUNDS_S)
            assert len(smtp.sink.messages) == 2

        second = smtp.sink.messages[1].message
        next_day = period_containing("daily", today.end + timedelta(hours=1), JAKARTA)
        assert str(second["Subject"]) == f"Daily report {next_day.label}: no trades"
        html, _text, pdf = parts(second)
        assert "No trades in this period" in html and "No trades in this period" in pdf_text(pdf)


class TestPreferences:
    async def test_each_user_sees_and_sets_only_their_own(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with report_hub(tmp_path / "home", smtp, clock) as hub:
            path = "/api/v1/analytics/reports/preferences"
            initial = (await hub.http.get(path)).json()
            assert initial == {"period": "off", "timezone": "Asia/Jakarta", "next_report_at": None}

            weekly = await hub.http.put(path, json={"period": "weekly"})
            assert weekly.status_code == 200 and weekly.json()["period"] == "weekly"
            week = period_containing("weekly", clock.now(), JAKARTA)
            assert datetime.fromisoformat(weekly.json()["next_report_at"]) == week.end
            assert week.end.weekday() == 0 and week.end.hour == 0  # Monday, local midnight

            bad = await hub.http.put(path, json={"period": "monthly"})
            assert bad.status_code == 422 and "error" in bad.json()
            anonymous = await hub.http.get(path, headers={"Authorization": ""})
            assert anonymous.status_code == 401

            other = {"email": "bo@example.com", "password": USER_PASSWORD}
            assert (await hub.http.post("/api/v1/auth/register", json=other)).status_code == 201
            token = (await hub.http.post("/api/v1/auth/login", json=other)).json()
            bo = {"Authorization": f"Bearer {token['access_token']}"}
            assert (await hub.http.get(path, headers=bo)).json()["period"] == "off"
            assert (
                await hub.http.put(path, headers=bo, json={"period": "daily"})
            ).status_code == 200
            assert (await hub.http.get(path)).json()["period"] == "weekly"

            off = await hub.http.put(path, json={"period": "off"})
            assert off.json() == {
                "period": "off",
                "timezone": "Asia/Jakarta",
                "next_report_at": None,
            }
