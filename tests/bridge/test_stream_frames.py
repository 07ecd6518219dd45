"""``/ws/stream`` connections forward whole frames of the topics the runtime adds (signals)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from chainflow.bridge.stream import StreamConnection
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.core.settings import BusSettings
from chainflow.hub.api import EventBus
from chainflow.hub.bus import open_bus
from chainflow.trading.api import signals_topic

TENANT = "0190a5c0-0000-7000-8000-0000000000s1"


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    opened = open_bus(BusSettings(url="memory://"))
    await opened.start()
    yield opened
    await opened.close()


async def test_signal_frames_of_subscribed_symbols_reach_the_queue(bus: EventBus) -> None:
    connection = StreamConnection(
        websocket=None,  # type: ignore[arg-type]  # the queue is what the send loop drains
        bus=bus,
        tenant_id=TENANT,
        max_symbols=5,
        frame_topics=(signals_topic,),
    )
    answer = await connection.handle(
        json.dumps({"type": "subscribe", "symbols": ["eurusd"]}), SymbolNormalizer()
    )
    assert answer == {"type": "subscribed", "symbols": ["EURUSD"]}
    signal = {"type": "signal", "tenant_id": TENANT, "symbol": "EURUSD", "action": "buy"}

    await bus.publish(signals_topic(TENANT, "EURUSD"), json.dumps(signal).encode())
    await bus.publish(
        signals_topic(TENANT, "GBPUSD"), json.dumps(signal).encode()
    )  # not subscribed
    await bus.publish(signals_topic("other-tenant", "EURUSD"), json.dumps(signal).encode())
    frame = await asyncio.wait_for(connection.queue.get(), 5)

    assert frame == {"type": "signal", "symbol": "EURUSD", "action": "buy"}  # no tenant id
    await asyncio.sleep(0.05)
    assert connection.queue.empty()
    await connection.close()
