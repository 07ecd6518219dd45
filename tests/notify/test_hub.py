"""The hub end to end: bus events in, outbox rows, e-mail out through a real SMTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from chainflow.core.tenancy import TenantContext
from chainflow.notify.models import NotificationOutbox
from tests.notify.hub import Hub, eventually, open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


async def outbox_rows(hub: Hub) -> list[NotificationOutbox]:
    """Return the tenant's rows but the sign-up's verification mail, oldest first."""
    tenant = TenantContext(tenant_id=hub.tenant_id)  # type: ignore[arg-type]
    async with hub.kernel.infra.database.unit_of_work(tenant, read_only=True) as uow:
        statement = (
            select(NotificationOutbox)
            .where(NotificationOutbox.event_type != "verification")
            .order_by(NotificationOutbox.created_at, NotificationOutbox.id)
        )
        return list((await uow.session.execute(statement)).scalars().all())


class TestIdentityEmails:
    async def test_password_reset_mail_carries_a_working_token_and_body_is_erased(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            asked = await hub.http.post("/api/v1/auth/password-reset", json={"email": hub.email})
            assert asked.status_code == 202

            await eventually(lambda: len(smtp.sink.messages) == 1)
            mail = smtp.sink.messages[0].message
            assert mail["To"] == hub.email and "password" in str(mail["Subject"]).lower()
            assert mail["List-Unsubscribe"] is None  # transactional mail
            text = mail.get_body(preferencelist=("plain",))
            assert text is not None
            link = next(w for w in text.get_content().split() if "reset-password?token=" in w)
            token = link.split("token=", 1)[1]
            confirmed = await hub.http.post(
                "/api/v1/auth/password-reset/confirm",
                json={"token": token, "password": "A-New-Password-2026!"},
            )
            assert confirmed.status_code == 204, confirmed.text
            await eventually(lambda: True)
            [row] = await outbox_rows(hub)
            assert row.state == "sent" and row.body_text == "" and row.body_html is None


class TestBusEvents:
    async def test_circuit_breaker_reaches_members_once_even_when_redelivered(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            subject = f"trading.risk.{hub.tenant_id}"
            for reason in ("daily loss <3%> reached", "daily loss <3%> reached", "second"):
                body = {
                    "type": "circuit_breaker",
                    "tenant_id": hub.tenant_id,
                    "reason": reason,
                    "ts": 1_790_000_000_000,
                }
                await hub.kernel.infra.bus.publish(subject, json.dumps(body).encode())

            # one consumer, in order: once the third is mailed, the duplicate was handled
            await eventually(lambda: len(smtp.sink.messages) == 2)
            rows = await outbox_rows(hub)
            assert [r.event_type for r in rows] == ["circuit_breaker"] * 2
            mail = smtp.sink.messages[0].message
            assert mail["List-Unsubscribe"] == "<https://app.test/settings/notifications>"
            html = mail.get_body(preferencelist=("html",))
            assert html is not None and "daily loss &lt;3%&gt; reached" in html.get_content()

    async def test_preferences_mute_a_kind_and_filter_symbols(
        self, tmp_path: Path, smtp: SmtpServer
    ) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            put = await hub.http.put(
                "/api/v1/notifications/preferences",
                json={"events": {"model_recovered": []}, "symbols": ["eurusd"]},
            )
            assert put.status_code == 200 and put.json()["symbols"] == ["EURUSD"]
            bus = hub.kernel.infra.bus
            for kind, symbol in (
                ("model_recovered", "EURUSD"),
                ("model_underperforming", "GBPUSD"),
                ("model_underperforming", "EURUSD"),
            ):
                alert = {
                    "type": kind,
                    "tenant_id": hub.tenant_id,
                    "model": "m@1",
                    "symbol": symbol,
                    "timeframe": "H1",
                    "ts": 1_790_000_000_000,
                    "hit_rate": 0.4,
                    "baseline_accuracy": 0.5,
                    "scored": 60,
                }
                await bus.publish(f"ml.alerts.{hub.tenant_id}", json.dumps(alert).encode())

            await eventually(lambda: len(smtp.sink.messages) == 1)
            assert "EURUSD" in smtp.sink.messages[0].message["Subject"]
            assert [r.event_type for r in await outbox_rows(hub)] == ["model_underperforming"]


class TestApi:
    async def test_test_send_log_and_preview(self, tmp_path: Path, smtp: SmtpServer) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            sent = await hub.http.post("/api/v1/notifications/test", json={"channel": "email"})
            assert sent.status_code == 202 and sent.json() == {"queued": 1}
            await eventually(lambda: len(smtp.sink.messages) == 1)
            await eventually(lambda: True)

            log = (await hub.http.get("/api/v1/notifications")).json()["items"]
            assert [i["event_type"] for i in log] == ["test", "verification"]  # newest first

            unknown = await hub.http.post("/api/v1/notifications/test", json={"channel": "sms"})
            assert unknown.status_code == 422
            assert unknown.json()["error"]["code"] == "notification_channel_unavailable"

            preview = await hub.http.post(
                "/api/v1/notifications/preview",
                json={
                    "kind": "circuit_breaker",
                    "channel": "telegram",
                    "locale": "id",
                    "data": {"reason": "<b>x</b>"},
                },
            )
            assert preview.status_code == 200, preview.text
            assert preview.json()["subject"].startswith("Pemutus sirkuit")
            assert "&lt;b&gt;x&lt;/b&gt;" in preview.json()["html"]
            missing = await hub.http.post("/api/v1/notifications/preview", json={"kind": "nope"})
            assert missing.status_code == 422

    async def test_retry_requeues_only_failed_rows(self, tmp_path: Path, smtp: SmtpServer) -> None:
        async with open_hub(tmp_path / "home", smtp) as hub:
            smtp.sink.reject_next.append("550 5.1.1 mailbox unavailable")
            await hub.http.post("/api/v1/notifications/test", json={"channel": "email"})
            await eventually(lambda: not smtp.sink.reject_next)
            rows: list[NotificationOutbox] = []

            async def failed() -> bool:
                rows[:] = await outbox_rows(hub)
                return rows[0].state == "failed"

            deadline = asyncio.get_running_loop().time() + 15.0  # the worker marks it
            while not await failed() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            assert rows[0].state == "failed" and "550" in (rows[0].last_error or "")

            retried = await hub.http.post(f"/api/v1/notifications/{rows[0].id}/retry")
            assert retried.status_code == 202, retried.text
            await eventually(lambda: len(smtp.sink.messages) == 1)
            again = await hub.http.post(f"/api/v1/notifications/{rows[0].id}/retry")
            assert again.status_code in (409, 202)
            other = await hub.http.post("/api/v1/notifications/nope/retry")
            assert other.status_code == 404
