"""Billing reminders (renewal due, payment failed, subscription expiring) reach the
tenant's owners and admins by e-mail, with the pay link, never held for a digest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainflow.notify.events import PARSERS
from chainflow.users.billing.events import (
    PaymentFailed,
    RenewalDue,
    renewal_due_topic,
)
from tests.notify.hub import eventually, open_hub, token_in
from tests.notify.peers.smtp import SmtpServer, smtp_server

PAY_URL = "https://app.sandbox.midtrans.com/snap/v4/redirection/abc"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


def test_billing_events_go_to_owners_and_admins_only() -> None:
    failed = PaymentFailed(
        tenant_id="t1",
        order_id="o1",
        plan="pro",
        period="monthly",
        kind="renewal",
        status="deny",
        gross_amount_idr=1_665_000,
        ts_event_ms=1,
    )
    event = PARSERS["payment_failed"]("s", failed.to_dict(), "e1")
    assert event is not None
    assert event.roles == ("owner", "admin") and event.user_id is None
    assert event.severity == "warning"


async def test_renewal_due_is_mailed_with_its_pay_link_even_in_digest_mode(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    async with open_hub(tmp_path / "home", smtp) as hub:
        put = await hub.http.put("/api/v1/notifications/preferences", json={"digest": "daily"})
        assert put.status_code == 200
        due = RenewalDue(
            tenant_id=hub.tenant_id,
            order_id="CF-1",
            plan="pro",
            period="monthly",
            gross_amount_idr=1_665_000,
            redirect_url=PAY_URL,
            current_period_end_ms=1_798_761_600_000,
            ts_event_ms=1_798_000_000_000,
        )
        await hub.kernel.infra.bus.publish(renewal_due_topic(), json.dumps(due.to_dict()).encode())
        await eventually(lambda: len(smtp.sink.messages) == 1)
        mail = smtp.sink.messages[0].message
        assert "payment due" in str(mail["Subject"]) and mail["To"] == hub.email
        assert token_in(mail, "redirection/") == "abc"
        text = mail.get_body(preferencelist=("plain",))
        assert text is not None and "Rp 1.665.000" in text.get_content()
