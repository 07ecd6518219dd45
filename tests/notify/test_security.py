"""Security notices end to end (real SMTP server on loopback): a sign-in from a new address,
an API key created, a password changed, an e-mail address changed. Critical: quiet hours
do not hold them, and no message carries a secret."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from chainflow.core.tenancy import TenantContext
from chainflow.notify.models import NotificationOutbox
from chainflow.notify.samples import SAMPLE_DATA
from chainflow.notify.templates import TemplateRenderer
from chainflow.users.events import EmailChanged, email_changed_topic
from tests.notify.app_hub import open_app_hub, sign_in_from
from tests.notify.hub import Hub, eventually, open_hub, token_in
from tests.notify.peers.smtp import Received, SmtpServer, smtp_server

SECURITY_KINDS = ("new_sign_in", "api_key_created", "password_changed", "email_changed")


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def plain(mail: Received) -> str:
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def html(mail: Received) -> str:
    body = mail.message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


async def rows_of(hub: Hub, kind: str) -> list[NotificationOutbox]:
    tenant = TenantContext(tenant_id=hub.tenant_id)  # type: ignore[arg-type]
    async with hub.kernel.infra.database.unit_of_work(tenant, read_only=True) as uow:
        statement = (
            select(NotificationOutbox)
            .where(NotificationOutbox.event_type == kind)
            .order_by(NotificationOutbox.created_at, NotificationOutbox.id)
        )
        return list((await uow.session.execute(statement)).scalars().all())


def quiet_now() -> dict[str, str]:
    """Quiet hours around the present (UTC, the user's zone): non-critical mail waits."""
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}


class TestNewSignIn:
    async def test_only_a_new_address_alerts_once_even_in_quiet_hours(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_app_hub(tmp_path / "home", smtp) as (hub, app):
            # signed in once already (the first sign-in ever: no alert)
            put = await hub.http.put(
                "/api/v1/notifications/preferences", json={"quiet_hours": quiet_now()}
            )
            assert put.status_code == 200, put.text
            await sign_in_from(app, hub.email, "127.0.0.1", "python-httpx")  # known address
            await sign_in_from(app, hub.email, "203.0.113.9", "Mozilla/5.0 Firefox/133.0")

            await eventually(lambda: len(smtp.sink.messages) == 1)
            mail = smtp.sink.messages[0]
            assert mail.rcpt_tos == [hub.email]
            assert mail.message["Subject"] == "New sign-in to your account from 203.0.113.9"
            text = plain(mail)
            assert "IP address: 203.0.113.9" in text and "Firefox/133.0" in text
            assert "UTC" in text  # the time of the sign-in

            # the same address again, then a third: one consumer in order, so once the
            # third is mailed the repeat was decided (and sent nothing)
            await sign_in_from(app, hub.email, "203.0.113.9", "Mozilla/5.0 Firefox/133.0")
            await sign_in_from(app, hub.email, "198.51.100.4", "curl/8.5")
            await eventually(lambda: len(smtp.sink.messages) == 2)
            assert "198.51.100.4" in smtp.sink.messages[1].message["Subject"]
            # the mail server has the message before the worker marks its row sent
            for _ in range(400):
                rows = await rows_of(hub, "new_sign_in")
                if [r.state for r in rows] == ["sent", "sent"]:
                    break
                await asyncio.sleep(0.01)
            assert [r.severity for r in rows] == ["critical", "critical"]
            assert [r.state for r in rows] == ["sent", "sent"]


class TestAccountChanges:
    async def test_api_key_created_names_the_key_but_never_shows_it(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            created = await hub.http.post(
                "/api/v1/api-keys", json={"name": "Desk MT5", "scopes": ["ticks:write"]}
            )
            assert created.status_code == 201, created.text
            key, prefix = created.json()["key"], created.json()["prefix"]

            await eventually(lambda: len(smtp.sink.messages) == 1)
            mail = smtp.sink.messages[0]
            assert mail.message["Subject"] == "A new API key was created: Desk MT5"
            assert "ticks:write" in plain(mail)
            for secret in (key, prefix):
                assert secret not in mail.message.as_string()
            [row] = await rows_of(hub, "api_key_created")
            assert key not in row.body_text and prefix not in (row.body_html or "")

    async def test_password_change_is_told_to_the_owner(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            asked = await hub.http.post("/api/v1/auth/password-reset", json={"email": hub.email})
            assert asked.status_code == 202
            await eventually(lambda: len(smtp.sink.messages) == 1)
            token = token_in(smtp.sink.messages[0].message, "reset-password?token=")
            confirmed = await hub.http.post(
                "/api/v1/auth/password-reset/confirm",
                json={"token": token, "password": "A-New-Password-2026!"},
            )
            assert confirmed.status_code == 204, confirmed.text

            await eventually(lambda: len(smtp.sink.messages) == 2)
            mail = smtp.sink.messages[1]
            assert mail.message["Subject"] == "Your password was changed"
            assert token not in mail.message.as_string()
            assert "every session was signed out" in plain(mail)

    async def test_email_change_goes_to_the_old_address_in_its_locale(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            event = EmailChanged(
                user_id=hub.user_id,
                tenant_id=hub.tenant_id,
                old_email=hub.email,
                new_email="ana.s@example.com",
                locale="id",
                ip="203.0.113.9",
                user_agent=None,
                ts_event_ms=hub.notify.now_ms(),
            )
            data = json.dumps(event.to_dict()).encode()
            await hub.kernel.infra.bus.publish(email_changed_topic(), data)

            await eventually(lambda: len(smtp.sink.messages) == 1)
            mail = smtp.sink.messages[0]
            assert mail.rcpt_tos == [hub.email]
            assert mail.message["Subject"] == "Alamat e-mail akun Anda telah diubah"
            assert "ana.s@example.com" in plain(mail) and "203.0.113.9" in plain(mail)
            assert mail.message["List-Unsubscribe"] is None  # a fixed address: no opt-out


class TestTemplates:
    @pytest.mark.parametrize("kind", SECURITY_KINDS)
    @pytest.mark.parametrize("locale", ["en", "id"])
    @pytest.mark.parametrize("channel", ["email", "telegram"])
    def test_every_security_template_renders_escaped_with_its_client(
        self, kind: str, locale: str, channel: str
    ) -> None:
        renderer = TemplateRenderer(base_url="https://app.test")
        data = {**SAMPLE_DATA[kind], "tenant_name": "Acme", "user_agent": "<script>x</script>"}
        rendered = renderer.render(kind, channel, locale, data)
        assert rendered.subject and "<script>x</script>" in rendered.text
        assert rendered.html is not None and "<script>" not in rendered.html
        assert "2027-01-01 00:00 UTC" in rendered.text
        if data.get("ip"):
            assert str(data["ip"]) in rendered.text

    async def test_preview_renders_telegram_in_indonesian(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            preview = await hub.http.post(
                "/api/v1/notifications/preview",
                json={"kind": "new_sign_in", "channel": "telegram", "locale": "id"},
            )
            assert preview.status_code == 200, preview.text
            body = preview.json()
            assert body["subject"] == "Masuk baru ke akun Anda dari 203.0.113.7"
            assert body["html"].startswith("<b>Masuk baru")
