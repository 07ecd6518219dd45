"""E-mail over SMTP (aiosmtplib): STARTTLS, AUTH, multipart text + HTML, List-Unsubscribe.

One connection per message: simple and robust against servers that drop idle sessions; a
pool is the next step when volume asks for it. The ``Message-ID`` is derived from the
idempotency key, so a copy sent again after a crash carries the same id.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib

from chainflow.core.settings.notify import NotifySettings
from chainflow.notify.channels.base import DeliveryResult, Message

__all__ = ["SmtpEmailChannel"]

PERMANENT_FROM = 500  # 5xx replies: the server will never accept this message


class SmtpEmailChannel:
    """Sends ``Message`` values as e-mail through one SMTP server."""

    name = "email"

    def __init__(self, settings: NotifySettings, *, tls_context: ssl.SSLContext | None = None):
        self._settings = settings
        self._tls_context = tls_context

    def build(self, message: Message) -> EmailMessage:
        """Return the MIME message for ``message`` (text, plus HTML when there is some)."""
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
        return email

    async def send(self, message: Message) -> DeliveryResult:
        """Deliver ``message``; a 5xx reply to the message is permanent, anything else
        (connection, TLS, AUTH, 4xx) is retried."""
        settings = self._settings
        password = settings.smtp_password.get_secret_value()
        try:
            errors, reply = await aiosmtplib.send(
                self.build(message),
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
