"""The e-mail channel against a real SMTP server on loopback (STARTTLS, AUTH)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from chainflow.core.settings import NotifySettings
from chainflow.notify.channels.base import Message
from chainflow.notify.channels.email import SmtpEmailChannel
from tests.notify.peers.smtp import PASSWORD, USERNAME, SmtpServer, smtp_server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def settings_for(server: SmtpServer, **overrides: object) -> NotifySettings:
    values: dict[str, object] = {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_username": USERNAME,
        "smtp_password": SecretStr(PASSWORD),
        "smtp_starttls": True,
        "email_from_address": "alerts@chainflow.test",
        "email_from_name": "ChainFlow",
    }
    values.update(overrides)
    return NotifySettings(**values)  # type: ignore[arg-type]


def message(**overrides: object) -> Message:
    values: dict[str, object] = {
        "idempotency_key": "a" * 64,
        "channel": "email",
        "address": "ana@example.com",
        "subject": "Circuit breaker tripped",
        "text": "Signals halted.\n\nReason: <loss>",
        "html": "<p>Signals halted.</p><p>Reason: &lt;loss&gt;</p>",
        "severity": "critical",
        "metadata": {
            "from_name": "Acme Trading",
            "unsubscribe_url": "https://app.test/settings/notifications",
        },
    }
    values.update(overrides)
    return Message(**values)  # type: ignore[arg-type]


class TestSmtpEmailChannel:
    async def test_delivers_multipart_over_starttls_with_auth(self, smtp: SmtpServer) -> None:
        channel = SmtpEmailChannel(settings_for(smtp), tls_context=smtp.client_tls())

        result = await channel.send(message())

        assert result.ok, result.error
        [received] = smtp.sink.messages
        assert received.tls and received.authenticated_as == USERNAME
        assert received.rcpt_tos == ["ana@example.com"]
        assert received.mail_from == "alerts@chainflow.test"
        mail = received.message
        assert mail["From"] == "Acme Trading <alerts@chainflow.test>"
        assert mail["Subject"] == "Circuit breaker tripped"
        assert mail["List-Unsubscribe"] == "<https://app.test/settings/notifications>"
        assert mail["Message-ID"] == f"<{'a' * 64}@chainflow.test>"
        assert mail.get_content_type() == "multipart/alternative"
        text = mail.get_body(preferencelist=("plain",))
        html = mail.get_body(preferencelist=("html",))
        assert text is not None and "Reason: <loss>" in text.get_content()
        assert html is not None and "&lt;loss&gt;" in html.get_content()

    async def test_text_only_message_without_unsubscribe_uses_default_from_name(
        self, smtp: SmtpServer
    ) -> None:
        channel = SmtpEmailChannel(settings_for(smtp), tls_context=smtp.client_tls())

        result = await channel.send(message(html=None, metadata={}))

        assert result.ok, result.error
        mail = smtp.sink.messages[0].message
        assert mail["From"] == "ChainFlow <alerts@chainflow.test>"
        assert mail["List-Unsubscribe"] is None
        assert mail.get_content_type() == "text/plain"

    async def test_wrong_password_is_a_retryable_failure(self, smtp: SmtpServer) -> None:
        settings = settings_for(smtp, smtp_password=SecretStr("wrong"))
        channel = SmtpEmailChannel(settings, tls_context=smtp.client_tls())

        result = await channel.send(message())

        assert not result.ok and not result.permanent
        assert smtp.sink.failed_logins >= 1 and smtp.sink.messages == []
        assert "wrong" not in (result.error or "")

    async def test_5xx_reply_is_permanent_and_4xx_is_retried(self, smtp: SmtpServer) -> None:
        channel = SmtpEmailChannel(settings_for(smtp), tls_context=smtp.client_tls())
        smtp.sink.reject_next.extend(["550 5.1.1 mailbox unavailable", "451 4.3.0 try later"])

        permanent = await channel.send(message())
        transient = await channel.send(message())

        assert not permanent.ok and permanent.permanent and "550" in (permanent.error or "")
        assert not transient.ok and not transient.permanent and "451" in (transient.error or "")

    async def test_an_untrusted_certificate_is_refused(self, smtp: SmtpServer) -> None:
        channel = SmtpEmailChannel(settings_for(smtp))  # the system CAs only

        result = await channel.send(message())

        assert not result.ok and smtp.sink.messages == []
