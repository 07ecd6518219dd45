"""The e-mail channel's attachments, the carrier of scheduled performance reports: the
outbox row holds only a reference, the registered source renders the PDF at delivery, and
a real SMTP server on loopback receives text + HTML + the PDF, which pypdf reads back."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import pypdf
import pytest
from fpdf import FPDF

from chainflow.notify.channels.base import Message
from chainflow.notify.channels.email import Attachment, SmtpEmailChannel
from tests.notify.peers.smtp import SmtpServer, smtp_server
from tests.notify.test_email import settings_for


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


class EquityPdfs:
    """Renders a one-page PDF (a figure and an equity polyline) for a reference."""

    def __init__(self) -> None:
        self.references: list[str] = []

    async def attachments(self, reference: str) -> Sequence[Attachment]:
        self.references.append(reference)
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.cell(text=f"Report {reference}: return 1.25%")
        pdf.polyline([(20, 80), (60, 60), (100, 70), (140, 40)])
        return [Attachment("report.pdf", "application/pdf", bytes(pdf.output()))]


class FailingPdfs:
    async def attachments(self, reference: str) -> Sequence[Attachment]:
        raise OSError(f"store unavailable for {reference}")


def report_message(reference: str) -> Message:
    return Message(
        idempotency_key="b" * 64,
        channel="email",
        address="ana@example.com",
        subject="Your daily performance report",
        text="Return 1.25%",
        html="<p>Return <b>1.25%</b></p>",
        severity="info",
        metadata={"attachments": reference},
    )


class TestEmailAttachments:
    async def test_the_pdf_rendered_at_delivery_arrives_with_the_body(
        self, smtp: SmtpServer
    ) -> None:
        channel = SmtpEmailChannel(settings_for(smtp), tls_context=smtp.client_tls())
        source = EquityPdfs()
        channel.register_attachments("analytics_report", source)

        result = await channel.send(report_message("analytics_report:t1/u1/daily/2024-01-01"))

        assert result.ok, result.error
        assert source.references == ["t1/u1/daily/2024-01-01"]
        [received] = smtp.sink.messages
        mail = received.message
        assert mail.get_content_type() == "multipart/mixed"
        body = mail.get_body(preferencelist=("html",))
        assert body is not None and "<b>1.25%</b>" in body.get_content()
        [pdf_part] = list(mail.iter_attachments())
        assert pdf_part.get_content_type() == "application/pdf"
        assert pdf_part.get_filename() == "report.pdf"
        reader = pypdf.PdfReader(io.BytesIO(pdf_part.get_content()))
        assert "return 1.25%" in reader.pages[0].extract_text()

    async def test_unknown_kind_is_permanent_and_sends_nothing(self, smtp: SmtpServer) -> None:
        channel = SmtpEmailChannel(settings_for(smtp), tls_context=smtp.client_tls())

        result = await channel.send(report_message("invoice:42"))

        assert not result.ok and result.permanent and "invoice" in (result.error or "")
        assert smtp.sink.messages == []

    async def test_a_failing_source_is_retried_later(self, smtp: SmtpServer) -> None:
        channel = SmtpEmailChannel(settings_for(smtp), tls_context=smtp.client_tls())
        channel.register_attachments("analytics_report", FailingPdfs())

        result = await channel.send(report_message("analytics_report:t1/u1/weekly/2024-W01"))

        assert not result.ok and not result.permanent
        assert "store unavailable" in (result.error or "") and smtp.sink.messages == []
