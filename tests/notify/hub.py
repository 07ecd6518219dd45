"""A kernel running users and notify (and the rest) with e-mail to a loopback SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from chainflow.core.clock import Clock
from chainflow.core.settings import NotifySettings
from chainflow.notify.service import NotifyService
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from tests.fixtures.settings import embedded_settings
from tests.notify.peers.smtp import PASSWORD, USERNAME, SmtpServer

USER_PASSWORD = "Notify-Hub-Tests-2026!"


@dataclass
class Hub:
    http: httpx.AsyncClient
    kernel: Kernel
    tenant_id: str
    user_id: str
    email: str

    @property
    def notify(self) -> NotifyService:
        assert self.kernel.notify is not None
        return self.kernel.notify


def notify_settings(smtp: SmtpServer, **overrides: Any) -> NotifySettings:
    values: dict[str, Any] = {
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "smtp_username": USERNAME,
        "smtp_password": SecretStr(PASSWORD),
        "smtp_ca_file": str(smtp.ca_file),
        "email_from_address": "alerts@chainflow.test",
        "public_base_url": "https://app.test",
        "worker_poll_s": 0.05,
        "backoff_base_s": 10.0,
        "max_attempts": 3,
    }
    values.update(overrides)
    return NotifySettings(**values)


@asynccontextmanager
async def open_hub(
    home: Path,
    smtp: SmtpServer,
    *,
    clock: Clock | None = None,
    env: str = "test",
    **notify: Any,
) -> AsyncIterator[Hub]:
    """Start the kernel, register ``ana@example.com`` (in ``prod``: verify her address with
    the e-mailed link) and log her in."""
    settings = embedded_settings(home, env=env, notify=notify_settings(smtp, **notify))
    kernel = Kernel(settings, clock=clock)
    app = create_app(kernel)
    await kernel.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            email = "ana@example.com"
            credentials = {"email": email, "password": USER_PASSWORD}
            registered = await http.post("/api/v1/auth/register", json=credentials)
            assert registered.status_code == 201, registered.text
            body = registered.json()
            if not notify.get("worker_enabled", True):  # deliver the sign-up's mail by hand
                assert kernel.notify is not None
                for _ in range(400):
                    if await kernel.notify.worker.drain():
                        break
                    await asyncio.sleep(0.02)
            await eventually(lambda: len(smtp.sink.messages) == 1)  # the verification
            verification = smtp.sink.messages.pop().message
            assert "Confirm" in str(verification["Subject"])
            if env == "prod":
                token = token_in(verification, "verify-email?token=")
                verified = await http.post("/api/v1/auth/verify", json={"token": token})
                assert verified.status_code == 200, verified.text
            await log_in(http, credentials)
            yield Hub(http, kernel, body["tenant_id"], body["user_id"], email)
    finally:
        await kernel.stop()


async def log_in(http: httpx.AsyncClient, credentials: dict[str, str]) -> None:
    """Log in and send the new access token with every later request."""
    login = await http.post("/api/v1/auth/login", json=credentials)
    assert login.status_code == 200, login.text
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"


def token_in(mail: EmailMessage, marker: str) -> str:
    """Return the token of the link containing ``marker`` in a mail's plain text."""
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    link = next(w for w in text.get_content().split() if marker in w)
    return link.split(marker, 1)[1]


async def eventually(check: Callable[[], bool], *, rounds: int = 400) -> None:
    """Wait (yielding to the loop, up to ~20 s) until ``check()`` holds."""
    for _ in range(rounds):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")
