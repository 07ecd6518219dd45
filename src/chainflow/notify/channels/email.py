"""E-mail over SMTP (aiosmtplib): STARTTLS, AUTH, multipart text + HTML, List-Unsubscribe,
and attachments resolved at delivery.

One connection per message: simple and robust against servers that drop idle sessions; a
pool is the next step when volume asks for it. The ``Message-ID`` is derived from the
idempotency key, so a copy sent again after a crash carries the same id.

Attachments are not stored in the outbox: a message's ``attachments`` metadata holds a small
reference, ``<kind>:<reference>``, and the source registered for ``kind`` renders the files
when the message is sent (a report's PDF from its tenant, user and period). The message is
then ``multipart/mixed``: the ``multipart/alternative`` text + HTML body, then the files.
A reference of an unknown kind is a permanent failure; a source that fails is retried.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Protocol

import aiosmtplib

from chainflow.core.settings.notify import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message

__all__ = ["ATTACHMENTS_KEY", "Attachment", "AttachmentSource", "SmtpEmailChannel"]

PERMANENT_FROM = 500  # 5xx replies: the server will never accept this message
ATTACHMENTS_KEY = "attachments"  # metadata: "<kind>:<reference>"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file attached to an e-mail."""

    filename: str
    content_type: str  # e.g. "application/pdf"
    data: bytes


class AttachmentSource(Protocol):
    """Renders the files of one kind of reference when the message is sent."""

    async def attachments(self, reference: str) -> Sequence[Attachment]:
        """Return the files ``reference`` names (raise when they cannot be made now)."""
        ...


class SmtpEmailChannel:
    """Sends ``Message`` values as e-mail through one SMTP server."""

    name = "email"

    def __init__(self, settings: NotifySettings, *, tls_context: ssl.SSLContext | None = None):
        self._settings = settings
        self._tls_context = tls_context
        self._sources: dict[str, AttachmentSource] = {}

    def register_attachments(self, kind: str, source: AttachmentSource) -> None:
        """Resolve ``attachments`` references ``<kind>:...`` of later messages with ``source``."""
        self._sources[kind] = source

    def build(self, message: Message, attachments: Sequence[Attachment] = ()) -> EmailMessage:
        """Return the MIME message for ``message`` (text, plus HTML when there is some, plus
        ``attachments`` as a ``multipart/mixed``)."""
        settings = self._settings
        email = EmailMessage()
        from_name = message.metadata.get("from_name") or settings.email_from_name
        email["From"] = formataddr((from_name, settings.email_from_address))
        email["To"] = message.address
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False, usegmt=True)
        domain = settings.email_from_address.rpartition("@")[2] or "chainflow.local"
        email["Message-ID"] = f"<{message.idempotency_key}@{domain}>"
        unsubscribe = message.metadata.get("unsubscribe_url")
        if unsubscribe:
            email["List-Unsubscribe"] = f"<{unsubscribe}>"
        email["X-ChainFlow-Severity"] = message.severity
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        for attachment in attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            email.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        return email

    async def _attachments(self, message: Message) -> Sequence[Attachment] | DeliveryResult:
        reference = message.metadata.get(ATTACHMENTS_KEY)
        if not reference:
            return ()
        kind, _, rest = reference.partition(":")
        source = self._sources.get(kind)
        if source is None:
            return DeliveryResult(
                ok=False,
                permanent=True,
                error=f"no attachment source for kind {kind!r} in this process",
            )
        try:
            return await source.attachments(rest)
        except Exception as e:  # rendered again at the next attempt
            return DeliveryResult(ok=False, error=f"attachments: {type(e).__name__}: {e}"[:500])

    async def send(self, message: Message) -> DeliveryResult:
        """Deliver ``message``; a 5xx reply to the message is permanent, anything else
        (connection, TLS, AUTH, 4xx) is retried."""
        settings = self._settings
        attachments = await self._attachments(message)
        if isinstance(attachments, DeliveryResult):
            return attachments
        password = settings.smtp_password.get_secret_value()
        try:
            errors, reply = await aiosmtplib.send(
                self.build(message, attachments),
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username or None,
                password=password if settings.smtp_username else None,
                start_tls=settings.smtp_starttls,
                validate_certs=settings.smtp_tls_verify,
                tls_context=self._tls_context,
                timeout=settings.smtp_timeout_s,
            )
        except aiosmtplib.SMTPAuthenticationError as e:  # our configuration, not the message
            return DeliveryResult(ok=False, error=f"SMTP AUTH refused ({e.code})")
        except aiosmtplib.SMTPResponseException as e:
            return DeliveryResult(
                ok=False,
                permanent=e.code >= PERMANENT_FROM,
                error=f"SMTP {e.code}: {e.message}"[:500],
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            return DeliveryResult(ok=False, error=f"{type(e).__name__}: {e}"[:500])
        if errors:
            refused = "; ".join(f"{rcpt}: {code}" for rcpt, (code, _) in errors.items())
            return DeliveryResult(ok=False, permanent=True, error=f"refused {refused}")
        return DeliveryResult(ok=True, provider_id=reply[:255] if reply else None)

    async def close(self) -> None:
        """Nothing held between messages."""
