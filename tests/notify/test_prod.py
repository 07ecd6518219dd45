"""In ``prod`` the hub is how verification tokens travel: an admin's fresh token is e-mailed,
never shown; a prod server without SMTP says so when it starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from chainflow.core.settings import NotifySettings
from chainflow.runtime import operator_tasks
from chainflow.runtime.kernel import Kernel
from chainflow.runtime.notify_wiring import warn_if_email_unconfigured
from tests.fixtures.settings import embedded_settings
from tests.notify.hub import USER_PASSWORD, eventually, log_in, open_hub, token_in
from tests.notify.peers.smtp import SmtpServer, smtp_server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


class TestVerificationTokenInProd:
    async def test_admin_gets_202_and_the_user_the_token_by_email(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp, env="prod") as hub:
            await operator_tasks.grant_superadmin(hub.kernel, hub.email)
            await log_in(hub.http, {"email": hub.email, "password": USER_PASSWORD})
            other = {"email": "budi@example.com", "password": USER_PASSWORD}
            registered = await hub.http.post("/api/v1/auth/register", json=other)
            assert registered.status_code == 201
            await eventually(lambda: len(smtp.sink.messages) == 1)
            smtp.sink.messages.clear()  # the sign-up's own mail

            issued = await hub.http.post(
                f"/api/v1/admin/users/{registered.json()['user_id']}/verification-token"
            )
            assert issued.status_code == 202, issued.text
            assert issued.json()["sent_by"] == "email" and "token" not in issued.json()
            await eventually(lambda: len(smtp.sink.messages) == 1)
            mail = smtp.sink.messages[0].message
            assert mail["To"] == "budi@example.com"
            token = token_in(mail, "verify-email?token=")
            verified = await hub.http.post("/api/v1/auth/verify", json={"token": token})
            assert verified.status_code == 200, verified.text


class TestStartupWarning:
    def test_prod_without_smtp_warns_and_dev_or_configured_does_not(self, tmp_path: Path) -> None:
        bare = Kernel(embedded_settings(tmp_path / "a", env="prod"))
        with capture_logs() as logs:
            assert warn_if_email_unconfigured(bare) is True
        assert [e["event"] for e in logs] == ["notify_email_not_configured"]
        assert "CHAINFLOW_NOTIFY_SMTP_HOST" in logs[0]["reason"]
        assert warn_if_email_unconfigured(Kernel(embedded_settings(tmp_path / "b"))) is False
        configured = NotifySettings(smtp_host="mail.example.com")
        kernel = Kernel(embedded_settings(tmp_path / "c", env="prod", notify=configured))
        assert warn_if_email_unconfigured(kernel) is False
