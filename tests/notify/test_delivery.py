"""The delivery worker on a simulated clock: backoff, retry_after, dead letters, quiet hours,
reclaiming a row whose worker died."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from chainflow.core.clock import SimulatedClock
from chainflow.core.tenancy import TenantContext
from chainflow.notify.channels.base import DeliveryResult, Message
from chainflow.notify.models import NotificationOutbox
from chainflow.notify.repository import OutboxQueue
from tests.notify.hub import Hub, open_hub
from tests.notify.peers.smtp import SmtpServer, smtp_server


class ScriptedProvider:
    """A stand-in provider on the ``email`` name: answers from a script, records sends."""

    name = "email"

    def __init__(self, *answers: DeliveryResult) -> None:
        self.answers = list(answers)
        self.sent: list[Message] = []

    async def send(self, message: Message) -> DeliveryResult:
        self.sent.append(message)
        return self.answers.pop(0) if self.answers else DeliveryResult(ok=True)

    async def close(self) -> None:
        return None


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def clock() -> SimulatedClock:
    # Access tokens are checked against the wall clock too: start near it, then move.
    return SimulatedClock(int(datetime.now(UTC).timestamp() * 1000))


async def rows(hub: Hub, kind: str) -> list[NotificationOutbox]:
    tenant = TenantContext(tenant_id=hub.tenant_id)  # type: ignore[arg-type]
    async with hub.kernel.infra.database.unit_of_work(tenant, read_only=True) as uow:
        statement = select(NotificationOutbox).where(NotificationOutbox.event_type == kind)
        return list(
            (await uow.session.execute(statement.order_by(NotificationOutbox.id))).scalars().all()
        )


async def queued(hub: Hub, kind: str, count: int = 1) -> list[NotificationOutbox]:
    for _ in range(400):
        found = await rows(hub, kind)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} {kind} rows in the outbox")


async def breaker(hub: Hub, reason: str = "limit") -> None:
    body = {
        "type": "circuit_breaker",
        "tenant_id": hub.tenant_id,
        "reason": reason,
        "ts": hub.kernel.clock.now_ms(),
    }
    await hub.kernel.infra.bus.publish(f"trading.risk.{hub.tenant_id}", json.dumps(body).encode())


class TestRetries:
    async def test_429_waits_its_retry_after_then_delivers(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with open_hub(tmp_path / "h", smtp, clock=clock, worker_enabled=False) as hub:
            provider = ScriptedProvider(DeliveryResult(ok=False, retry_after_s=30, error="429"))
            hub.notify.channels.add(provider)
            await breaker(hub)
            await queued(hub, "circuit_breaker")
            worker = hub.notify.worker

            assert await worker.run_once() == 1
            [row] = await rows(hub, "circuit_breaker")
            assert row.state == "pending" and row.attempts == 1
            assert row.next_attempt_at == clock.now() + timedelta(seconds=30)
            clock.advance_ms(29_000)
            assert await worker.run_once() == 0
            clock.advance_ms(1_000)
            assert await worker.run_once() == 1

            [row] = await rows(hub, "circuit_breaker")
            assert row.state == "sent" and row.attempts == 2 and len(provider.sent) == 2
            assert provider.sent[0].idempotency_key == provider.sent[1].idempotency_key

    async def test_backoff_doubles_then_dead_letters(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with open_hub(tmp_path / "h", smtp, clock=clock, worker_enabled=False) as hub:
            failure = DeliveryResult(ok=False, error="503 unavailable")
            hub.notify.channels.add(ScriptedProvider(failure, failure, failure))
            await breaker(hub)
            await queued(hub, "circuit_breaker")
            worker = hub.notify.worker

            await worker.run_once()
            assert (await rows(hub, "circuit_breaker"))[0].next_attempt_at == (
                clock.now() + timedelta(seconds=10)
            )
            clock.advance_ms(10_000)
            await worker.run_once()
            assert (await rows(hub, "circuit_breaker"))[0].next_attempt_at == (
                clock.now() + timedelta(seconds=20)
            )
            clock.advance_ms(20_000)
            await worker.run_once()

            [row] = await rows(hub, "circuit_breaker")
            assert row.state == "dead" and row.attempts == 3 and row.last_error == "503 unavailable"
            clock.advance_ms(3_600_000)
            assert await worker.run_once() == 0

    async def test_permanent_refusal_fails_at_once(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with open_hub(tmp_path / "h", smtp, clock=clock, worker_enabled=False) as hub:
            refusal = DeliveryResult(ok=False, permanent=True, error="400 chat not found")
            hub.notify.channels.add(ScriptedProvider(refusal))
            await breaker(hub)
            await queued(hub, "circuit_breaker")

            await hub.notify.worker.drain()

            [row] = await rows(hub, "circuit_breaker")
            assert row.state == "failed" and row.attempts == 1

    async def test_a_row_left_sending_by_a_dead_worker_is_reclaimed_after_the_timeout(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with open_hub(tmp_path / "h", smtp, clock=clock, worker_enabled=False) as hub:
            provider = ScriptedProvider()
            hub.notify.channels.add(provider)
            await breaker(hub)
            await queued(hub, "circuit_breaker")
            async with hub.kernel.infra.database.unit_of_work(system=True) as uow:
                claimed = await OutboxQueue(uow.session).claim(
                    now=clock.now(), limit=10, stale_after_s=300
                )  # a worker claims it, then dies before sending
            assert len(claimed) == 1

            assert await hub.notify.worker.run_once() == 0  # still someone else's
            clock.advance_ms(301_000)
            assert await hub.notify.worker.run_once() == 1

            [row] = await rows(hub, "circuit_breaker")
            assert row.state == "sent" and row.attempts == 2 and len(provider.sent) == 1


class TestQuietHours:
    async def test_quiet_hours_hold_a_warning_until_they_end_and_critical_passes(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with open_hub(tmp_path / "h", smtp, clock=clock, worker_enabled=False) as hub:
            put = await hub.http.put(
                "/api/v1/notifications/preferences",
                json={"quiet_hours": {"start": "22:00", "end": "07:00"}},
            )
            assert put.status_code == 200, put.text
            start = (clock.now() + timedelta(days=1)).replace(
                hour=23, minute=0, second=0, microsecond=0
            )  # 23:00 in the user's zone (UTC)
            clock.set_ms(int(start.timestamp() * 1000))
            provider = ScriptedProvider()
            hub.notify.channels.add(provider)
            alert = {
                "type": "model_underperforming",
                "tenant_id": hub.tenant_id,
                "model": "m@1",
                "symbol": "EURUSD",
                "timeframe": "H1",
                "ts": clock.now_ms(),
                "hit_rate": 0.4,
                "baseline_accuracy": 0.5,
                "scored": 60,
            }
            bus = hub.kernel.infra.bus
            await bus.publish(f"ml.alerts.{hub.tenant_id}", json.dumps(alert).encode())
            await breaker(hub)
            [warning] = await queued(hub, "model_underperforming")
            await queued(hub, "circuit_breaker")

            quiet_end = start + timedelta(hours=8)
            assert warning.next_attempt_at == quiet_end
            await hub.notify.worker.drain()
            assert [m.metadata["kind"] for m in provider.sent] == ["circuit_breaker"]
            clock.set_ms(int(quiet_end.timestamp() * 1000))
            await hub.notify.worker.drain()
            assert [m.metadata["kind"] for m in provider.sent][-1] == "model_underperforming"
