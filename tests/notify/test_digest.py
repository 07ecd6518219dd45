"""Digest mode: boundaries in the user's time zone, events held and sent as one summary,
critical events passing, redelivered events held once (simulated clock, real SMTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from chainflow.core.clock import SimulatedClock
from chainflow.core.tenancy import TenantContext
from chainflow.notify.models import NotificationDigestItem, NotificationOutbox
from chainflow.notify.preferences import Preferences, QuietHours, digest_boundary, zone_of
from tests.notify.hub import Hub, open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server


class TestBoundaries:
    def test_hourly_follows_a_half_hour_zone(self) -> None:
        kolkata = zone_of("Asia/Kolkata")  # UTC+5:30: local hours start at :30 UTC
        now = datetime(2026, 5, 4, 10, 10, tzinfo=UTC)  # 15:40 local
        assert digest_boundary("hourly", now, kolkata, 8) == datetime(
            2026, 5, 4, 10, 30, tzinfo=UTC
        )

    def test_daily_is_the_next_local_hour_of_day(self) -> None:
        jakarta = zone_of("Asia/Jakarta")  # UTC+7
        before = datetime(2026, 5, 4, 0, 30, tzinfo=UTC)  # 07:30 local: today 08:00
        after = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)  # 08:00 local: tomorrow 08:00
        assert digest_boundary("daily", before, jakarta, 8) == datetime(
            2026, 5, 4, 1, 0, tzinfo=UTC
        )
        assert digest_boundary("daily", after, jakarta, 8) == datetime(2026, 5, 5, 1, 0, tzinfo=UTC)

    def test_critical_bypasses_and_quiet_hours_move_the_boundary(self) -> None:
        preferences = Preferences(
            digest="hourly", quiet_hours=QuietHours(start=time(22), end=time(7))
        )
        jakarta = zone_of("Asia/Jakarta")
        now = datetime(2026, 5, 4, 14, 20, tzinfo=UTC)  # 21:20 local; boundary 22:00 is quiet
        assert preferences.digest_due("critical", now, jakarta) is None
        assert preferences.digest_due("warning", now, jakarta) == datetime(
            2026, 5, 5, 0, 0, tzinfo=UTC
        )
        assert Preferences().digest_due("info", now, jakarta) is None


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def clock() -> SimulatedClock:
    # tokens are checked against the wall clock too: start near it, then move
    return SimulatedClock(int(datetime.now(UTC).timestamp() * 1000))


@pytest.fixture
async def hub(tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock) -> AsyncIterator[Hub]:
    async with open_hub(tmp_path / "home", smtp, clock=clock, worker_enabled=False) as hub:
        yield hub


async def publish_alert(hub: Hub, symbol: str, ts: int) -> bytes:
    alert = {
        "type": "model_underperforming",
        "tenant_id": hub.tenant_id,
        "model": "m@1",
        "symbol": symbol,
        "timeframe": "H1",
        "ts": ts,
        "hit_rate": 0.4,
        "baseline_accuracy": 0.5,
        "scored": 60,
    }
    data = json.dumps(alert).encode()
    await hub.kernel.infra.bus.publish(f"ml.alerts.{hub.tenant_id}", data)
    return data


async def table(hub: Hub, model: type) -> list:  # type: ignore[type-arg]
    tenant = TenantContext(tenant_id=hub.tenant_id)  # type: ignore[arg-type]
    async with hub.kernel.infra.database.unit_of_work(tenant, read_only=True) as uow:
        statement = select(model).order_by(model.created_at, model.id)
        return list((await uow.session.execute(statement)).scalars().all())


async def until_mailed(hub: Hub, smtp: SmtpServer, count: int) -> None:
    for _ in range(400):
        await hub.notify.worker.drain()
        if len(smtp.sink.messages) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} messages")


async def until_held(hub: Hub, count: int) -> list[NotificationDigestItem]:
    for _ in range(400):
        items = await table(hub, NotificationDigestItem)
        if len(items) >= count:
            return items
        await asyncio.sleep(0.02)  # lets the consumers run
    raise AssertionError(f"expected {count} held events")


class TestDigestThroughTheRuntime:
    async def test_events_are_held_until_the_local_boundary_then_sent_as_one(
        self, hub: Hub, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        profile = await hub.http.patch("/api/v1/users/me", json={"timezone": "Asia/Kolkata"})
        assert profile.status_code == 200, profile.text
        put = await hub.http.put("/api/v1/notifications/preferences", json={"digest": "hourly"})
        assert put.status_code == 200 and put.json()["digest"] == "hourly"
        now = clock.now()
        boundary = digest_boundary("hourly", now, zone_of("Asia/Kolkata"), 8)

        first = await publish_alert(hub, "EURUSD", clock.now_ms())
        await publish_alert(hub, "GBPUSD", clock.now_ms())
        breaker = {"type": "circuit_breaker", "tenant_id": hub.tenant_id, "reason": "loss"}
        breaker["ts"] = clock.now_ms()  # type: ignore[assignment]
        await hub.kernel.infra.bus.publish(
            f"trading.risk.{hub.tenant_id}", json.dumps(breaker).encode()
        )
        items = await until_held(hub, 2)
        await hub.kernel.infra.bus.publish(f"ml.alerts.{hub.tenant_id}", first)  # redelivered
        await until_mailed(hub, smtp, 1)

        assert [i.due_at for i in items] == [boundary, boundary]
        assert len(await table(hub, NotificationDigestItem)) == 2  # held once
        # the critical breaker went out at once, alone
        assert [str(m.message["Subject"]) for m in smtp.sink.messages] == [
            "Circuit breaker tripped: signals halted"
        ]

        clock.set_ms(int(boundary.timestamp() * 1000) - 1000)
        await hub.notify.worker.drain()
        assert len(smtp.sink.messages) == 1  # not yet

        clock.set_ms(int(boundary.timestamp() * 1000))
        assert await hub.notify.worker.drain() == 1
        digest = smtp.sink.messages[-1].message
        assert str(digest["Subject"]) == "Your hourly ChainFlow digest: 2 notifications"
        text = digest.get_body(preferencelist=("plain",))
        assert text is not None and "EURUSD" in text.get_content()
        assert "GBPUSD" in text.get_content()
        [row] = [r for r in await table(hub, NotificationOutbox) if r.event_type == "digest"]
        assert row.state == "sent" and row.event_at == boundary
        assert {i.digest_id for i in await table(hub, NotificationDigestItem)} == {row.id}

        clock.advance_ms(3_600_000)
        await hub.notify.worker.drain()
        assert len(smtp.sink.messages) == 2  # nothing is sent twice
        await hub.kernel.infra.bus.publish(f"ml.alerts.{hub.tenant_id}", first)
        await publish_alert(hub, "USDJPY", clock.now_ms())  # in order: after the copy
        items = await until_held(hub, 3)
        assert [i.subject for i in items].count(items[0].subject) == 1  # the copy: not again

    async def test_daily_digest_in_indonesian_with_the_user_hour(
        self, hub: Hub, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        await hub.http.patch("/api/v1/users/me", json={"timezone": "Asia/Jakarta", "locale": "id"})
        put = await hub.http.put(
            "/api/v1/notifications/preferences", json={"digest": "daily", "digest_hour": 18}
        )
        assert put.status_code == 200, put.text
        await publish_alert(hub, "XAUUSD", clock.now_ms())
        [item] = await until_held(hub, 1)
        local = item.due_at.astimezone(zone_of("Asia/Jakarta"))
        assert (local.hour, local.minute) == (18, 0)
        assert timedelta(0) < item.due_at - clock.now() <= timedelta(days=1)

        clock.set_ms(int(item.due_at.timestamp() * 1000))
        assert await hub.notify.worker.drain() == 1
        assert str(smtp.sink.messages[-1].message["Subject"]).startswith(
            "Ringkasan ChainFlow harian: 1 notifikasi"
        )
