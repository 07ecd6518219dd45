"""MT5 terminals away too long, end to end: real WebSockets to ``WS /ws/ticks`` on a uvicorn
server on loopback, a simulated clock moved past N minutes, e-mail to a real SMTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from chainflow.core.clock import SimulatedClock
from chainflow.core.tenancy import TenantContext
from chainflow.notify.models import NotificationTerminal
from tests.notify.app_hub import open_app_hub, serving
from tests.notify.hub import Hub, eventually
from tests.notify.peers.smtp import SmtpServer, smtp_server

MINUTE_MS = 60_000
SWEEPS_S = 0.4  # several sweeps at terminal_check_s=0.05


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def clock() -> SimulatedClock:
    # tokens are checked against the wall clock too: start near it, then move
    return SimulatedClock(int(datetime.now(UTC).timestamp() * 1000))


@asynccontextmanager
async def terminal_hub(
    home: Path, smtp: SmtpServer, clock: SimulatedClock
) -> AsyncIterator[tuple[Hub, str]]:
    """A hub (alert after 5 minutes, swept every 50 ms) served on loopback."""
    async with open_app_hub(
        home, smtp, clock=clock, terminal_offline_min=5, terminal_check_s=0.05
    ) as (hub, app):
        async with serving(app) as base:
            yield hub, base


async def api_key(hub: Hub, name: str, smtp: SmtpServer) -> str:
    """Create a ticks:write key named ``name`` (its security notice is read and dropped)."""
    created = await hub.http.post(
        "/api/v1/api-keys", json={"name": name, "scopes": ["ticks:write"]}
    )
    assert created.status_code == 201, created.text
    await eventually(lambda: any(name in m.message["Subject"] for m in smtp.sink.messages))
    smtp.sink.messages.clear()
    return str(created.json()["key"])


async def open_terminal(base: str, key: str) -> ClientConnection:
    """Connect as an MT5 terminal and wait for the hello answer (the session is up)."""
    ws = await connect(f"{base}/ws/ticks?api_key={key}")
    await ws.send(json.dumps({"type": "hello", "signals": "on_change"}))
    assert json.loads(await ws.recv())["type"] == "hello"
    return ws


async def states(hub: Hub) -> dict[str, str]:
    """Return each terminal's label and state as the hub recorded them."""
    tenant = TenantContext(tenant_id=hub.tenant_id)  # type: ignore[arg-type]
    async with hub.kernel.infra.database.unit_of_work(tenant, read_only=True) as uow:
        rows = (await uow.session.execute(select(NotificationTerminal))).scalars().all()
        return {row.label: row.state for row in rows}


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


async def recorded(hub: Hub, wanted: dict[str, str]) -> None:
    async def check() -> bool:
        found = await states(hub)
        return all(found.get(label) == state for label, state in wanted.items())

    await until(check)


def terminal_mail(smtp: SmtpServer) -> list[str]:
    return [str(m.message["Subject"]) for m in smtp.sink.messages if "MT5" in m.message["Subject"]]


class TestTerminalAway:
    async def test_alert_after_n_minutes_once_then_back(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with terminal_hub(tmp_path / "home", smtp, clock) as (hub, base):
            key = await api_key(hub, "Desk MT5", smtp)
            terminal = await open_terminal(base, key)
            await recorded(hub, {"Desk MT5": "up"})
            await terminal.close()
            await recorded(hub, {"Desk MT5": "down"})

            clock.advance_ms(4 * MINUTE_MS)
            await asyncio.sleep(SWEEPS_S)
            assert terminal_mail(smtp) == []  # not yet N minutes

            clock.advance_ms(MINUTE_MS + 1000)
            await eventually(lambda: len(terminal_mail(smtp)) == 1)
            assert terminal_mail(smtp) == ['MT5 terminal "Desk MT5" disconnected 5 min ago']
            [mail] = smtp.sink.messages
            assert mail.rcpt_tos == [hub.email]
            clock.advance_ms(30 * MINUTE_MS)
            await asyncio.sleep(SWEEPS_S)
            assert len(terminal_mail(smtp)) == 1  # told once

            again = await open_terminal(base, key)
            await eventually(lambda: len(terminal_mail(smtp)) == 2)
            assert terminal_mail(smtp)[1] == 'MT5 terminal "Desk MT5" is back'
            body = smtp.sink.messages[1].message.get_body(preferencelist=("plain",))
            assert body is not None and "after 35 minutes away" in body.get_content()
            await again.close()

    async def test_a_quick_reconnect_sends_nothing_and_terminals_are_apart(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with terminal_hub(tmp_path / "home", smtp, clock) as (hub, base):
            key_a = await api_key(hub, "Desk A", smtp)
            key_b = await api_key(hub, "Desk B", smtp)
            first_a = await open_terminal(base, key_a)
            terminal_b = await open_terminal(base, key_b)
            await recorded(hub, {"Desk A": "up", "Desk B": "up"})

            await first_a.close()  # away 3 minutes: under N
            await recorded(hub, {"Desk A": "down"})
            clock.advance_ms(3 * MINUTE_MS)
            second_a = await open_terminal(base, key_a)
            await recorded(hub, {"Desk A": "up"})
            clock.advance_ms(10 * MINUTE_MS)
            await asyncio.sleep(SWEEPS_S)
            assert terminal_mail(smtp) == []

            await terminal_b.close()  # B away while A stays
            await recorded(hub, {"Desk B": "down", "Desk A": "up"})
            clock.advance_ms(6 * MINUTE_MS)
            await eventually(lambda: len(terminal_mail(smtp)) == 1)
            assert terminal_mail(smtp) == ['MT5 terminal "Desk B" disconnected 6 min ago']

            # a reconnect that overtakes the close of the connection it replaces (the free
            # tier allows two connections at once)
            third_a = await open_terminal(base, key_a)
            await second_a.close()
            await asyncio.sleep(SWEEPS_S)
            clock.advance_ms(10 * MINUTE_MS)
            await asyncio.sleep(SWEEPS_S)
            assert (await states(hub))["Desk A"] == "up"
            assert len(terminal_mail(smtp)) == 1
            await third_a.close()

    async def test_a_user_preference_shortens_the_wait(
        self, tmp_path: Path, smtp: SmtpServer, clock: SimulatedClock
    ) -> None:
        async with terminal_hub(tmp_path / "home", smtp, clock) as (hub, base):
            put = await hub.http.put(
                "/api/v1/notifications/preferences", json={"terminal_offline_min": 2}
            )
            assert put.status_code == 200 and put.json()["terminal_offline_min"] == 2
            terminal = await open_terminal(base, await api_key(hub, "Desk MT5", smtp))
            await recorded(hub, {"Desk MT5": "up"})
            await terminal.close()
            await recorded(hub, {"Desk MT5": "down"})
            clock.advance_ms(2 * MINUTE_MS + 1000)
            await eventually(lambda: len(terminal_mail(smtp)) == 1)
            assert terminal_mail(smtp) == ['MT5 terminal "Desk MT5" disconnected 2 min ago']
