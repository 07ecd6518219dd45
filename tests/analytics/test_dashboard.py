"""Live dashboards: the publisher's once-per-second-when-changed rule on a simulated clock,
the stream's coalescing for a slow client, and ``WS /ws/stream`` with a real WebSocket
client on a loopback server: frames arrive, at most one per second, never across tenants."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import connect

from chainflow.analytics.live.events import dashboard_request_topic, dashboard_topic
from chainflow.analytics.live.frame import DashboardView, OpenPosition
from chainflow.analytics.live.publisher import DashboardPublisher
from chainflow.bridge.stream import StreamConnection
from chainflow.core.clock import SimulatedClock
from chainflow.hub.api import BusMessage
from chainflow.hub.bus.memory import InProcessBus
from chainflow.runtime.app import create_app
from chainflow.runtime.kernel import Kernel
from chainflow.trading.paper.desk import PaperSignal
from tests.fixtures.api_client import PASSWORD
from tests.fixtures.processes import free_port
from tests.fixtures.settings import embedded_settings

T0 = 1_750_000_000_000


def view(equity: float, positions: Sequence[OpenPosition] = ()) -> DashboardView:
    return DashboardView(
        currency="USD",
        balance=10_000.0,
        equity=equity,
        day_start_equity=10_000.0,
        peak_equity=10_200.0,
        margin_used=0.0,
        halted=None,
        max_daily_loss_pct=5.0,
        max_drawdown_pct=20.0,
        positions=positions,
        models=(),
    )


class SetViews:
    """A ``DashboardSource`` whose views the test sets."""

    def __init__(self) -> None:
        self.views: dict[str, DashboardView] = {}

    def tenants(self) -> Sequence[str]:
        return list(self.views)

    async def view(self, tenant_id: str) -> DashboardView | None:
        return self.views.get(tenant_id)


class TestDashboardPublisher:
    async def test_publishes_only_changes_and_at_most_once_a_second(self) -> None:
        bus, clock, source = InProcessBus(), SimulatedClock(T0), SetViews()
        seen: list[dict[str, Any]] = []

        async def keep(message: BusMessage) -> None:
            seen.append(json.loads(message.data))

        await bus.subscribe(dashboard_topic("a"), keep)
        publisher = DashboardPublisher(bus=bus, clock=clock, source=source)
        source.views["a"] = view(9_900.0)
        assert await publisher.publish_changes() == 1
        source.views["a"] = view(9_800.0)
        clock.advance_ms(999)
        assert await publisher.publish_changes() == 0  # changed, but within the second
        clock.advance_ms(1)
        assert await publisher.publish_changes() == 1
        clock.advance_ms(5_000)
        assert await publisher.publish_changes() == 0  # a second passed, nothing changed
        await asyncio.sleep(0.01)
        assert [(f["type"], f["ts"], f["equity"]) for f in seen] == [
            ("dashboard", T0, 9_900.0),
            ("dashboard", T0 + 1000, 9_800.0),
        ]
        risk = seen[1]["risk"]
        assert risk["daily_loss_used"] == 0.4  # 2% of a 5% daily limit
        assert risk["drawdown_used"] == round((10_200 - 9_800) / 10_200 * 100 / 20, 4)

    async def test_a_new_connection_asks_for_the_last_frame(self) -> None:
        bus, clock, source = InProcessBus(), SimulatedClock(T0), SetViews()
        publisher = DashboardPublisher(bus=bus, clock=clock, source=source)
        await publisher.start()
        try:
            assert await bus.request(dashboard_request_topic(), b"a") == b""
            source.views["a"] = view(10_050.0)
            first = json.loads(await bus.request(dashboard_request_topic(), b"a"))
            assert (first["type"], first["equity"], first["day_pnl"]) == (
                "dashboard",
                10_050.0,
                50.0,
            )
            assert await publisher.publish_changes() == 0  # that answer counts as the last one
        finally:
            await publisher.stop()


class TestCoalescing:
    async def test_a_slow_client_gets_only_the_latest_dashboard(self) -> None:
        bus = InProcessBus()
        connection = StreamConnection(None, bus, "a", 3)  # type: ignore[arg-type]
        connection.offer({"type": "subscribed", "symbols": []})
        for equity in range(100):
            data = json.dumps({"type": "dashboard", "ts": equity, "equity": equity}).encode()
            await connection._on_latest(_Message(data))
        assert connection.queue.qsize() == 2 and not connection.overflowed
        assert connection.queue.get_nowait()["type"] == "subscribed"
        latest = connection.queue.get_nowait()
        connection.taken(latest)
        assert latest == {"type": "dashboard", "ts": 99, "equity": 99}
        await connection._on_latest(_Message(b'{"type":"dashboard","ts":100,"equity":100}'))
        assert connection.queue.qsize() == 1  # taken: the next one queues anew


class _Message:
    def __init__(self, data: bytes) -> None:
        self.subject = "analytics.dashboard.a"
        self.data = data
        self.headers: dict[str, str] = {}
        self.delivery_count = 1


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on loopback in this event loop; yield its ws:// base."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def open_position(desk: Any, tenant_id: str, symbol: str, bid: float) -> None:
    await desk.ensure(tenant_id)
    buy = PaperSignal(symbol, T0, "buy", 1.0, None, None, "gbm@1", ("edge",))
    desk.on_signal(tenant_id, buy)
    await desk.on_tick(tenant_id, symbol, T0 + 1, bid, bid + 0.0002)


async def sign_up(http: httpx.AsyncClient, email: str) -> tuple[str, str]:
    """Register ``email``; return its tenant and access token."""
    credentials = {"email": email, "password": PASSWORD}
    registered = await http.post("/api/v1/auth/register", json=credentials)
    assert registered.status_code == 201, registered.text
    token = (await http.post("/api/v1/auth/login", json=credentials)).json()["access_token"]
    return registered.json()["tenant_id"], token


async def dashboards(ws: Any, seconds: float) -> list[tuple[float, dict[str, Any]]]:
    """Return the dashboard frames received within ``seconds``, with their arrival time."""
    frames = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
        if frame["type"] == "dashboard":
            frames.append((time.monotonic(), frame))
    return frames


class TestStreamDashboards:
    async def test_updates_arrive_at_most_once_a_second_and_only_to_their_tenant(
        self, tmp_path: Path
    ) -> None:
        kernel = Kernel(embedded_settings(tmp_path))
        app = create_app(kernel)
        await kernel.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                tenant_a, token_a = await sign_up(http, "a@example.com")
                tenant_b, token_b = await sign_up(http, "b@example.com")
            assert kernel.trading is not None
            desk = kernel.trading.desk
            await open_position(desk, tenant_a, "EURUSD", 1.1000)
            await open_position(desk, tenant_b, "GBPUSD", 1.2700)

            async def move_prices() -> None:
                for n in range(1, 1000):
                    bid = 1.1 + n * 1e-5
                    await desk.on_tick(tenant_a, "EURUSD", T0 + 10 * n, bid, bid + 0.0002)
                    await asyncio.sleep(0.05)

            async with served(app) as base:
                async with (
                    connect(f"{base}/ws/stream?access_token={token_a}") as ws_a,
                    connect(f"{base}/ws/stream?access_token={token_b}") as ws_b,
                ):
                    mover = asyncio.create_task(move_prices())
                    try:
                        frames_a, frames_b = await asyncio.gather(
                            dashboards(ws_a, 3.3), dashboards(ws_b, 3.3)
                        )
                    finally:
                        mover.cancel()
        finally:
            await kernel.stop()

        assert 3 <= len(frames_a) <= 5, [f["ts"] for _, f in frames_a]
        stamps = [f["ts"] for _, f in frames_a]
        assert all(
            later - earlier >= 1000 for earlier, later in zip(stamps, stamps[1:], strict=False)
        )
        equities = [f["equity"] for _, f in frames_a]
        assert len(set(equities)) == len(equities)  # each one says something new
        assert {p["symbol"] for _, f in frames_a for p in f["positions"]} == {"EURUSD"}
        assert set(frames_a[-1][1]["risk"]) >= {"daily_loss_used", "drawdown_used", "halted"}
        assert "models" in frames_a[-1][1]
        # B's account does not move: its current frame on connecting, and nothing of A's.
        assert len(frames_b) == 1
        assert [p["symbol"] for p in frames_b[0][1]["positions"]] == ["GBPUSD"]
