"""A partition owner that dies with a message in flight does not hold its partition back for
the ack wait: the next owner reclaims the durable as it takes the lease (real NATS).

The dying owner reaches NATS through a loopback TCP proxy that is then cut, so its
unsettled delivery stays pending on the server exactly as after a ``kill -9``; the ack
wait (30 s, the production default) is far longer than the wait the test allows.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from chainflow.core.settings import BusSettings
from chainflow.hub.api import (
    BusMessage,
    EventBus,
    MessageHandler,
    PartitionOwner,
    PartitionPlan,
)
from chainflow.hub.bus import open_bus
from tests.fixtures.backends import delete_nats_stream, require_backend, unique_name
from tests.fixtures.member_cluster import Members, until
from tests.fixtures.scaled import TcpProxy

pytestmark = [pytest.mark.nats]

ACK_WAIT_S = 30.0
INTERVAL_S = 0.1
TTL_S = 0.6
TAKEOVER_BOUND_S = TTL_S + INTERVAL_S  # Membership.takeover_bound_s
SLACK_S = 3.0  # a loaded CI machine; still a tenth of the ack wait


async def test_a_dead_owners_message_in_flight_is_served_by_the_next_owner_at_takeover() -> None:
    url = require_backend("nats")
    address = urlsplit(url)
    proxy = TcpProxy((address.hostname or "127.0.0.1", address.port or 4222))
    settings = BusSettings(
        url=url,
        stream=unique_name("CFRECLAIM").upper(),
        subject_prefix=unique_name("cf"),
        ack_wait_s=ACK_WAIT_S,
        request_timeout_s=2.0,
    )
    behind_proxy = settings.model_copy(update={"url": f"nats://127.0.0.1:{proxy.port}"})
    dying_bus, next_bus = open_bus(behind_proxy), open_bus(settings)
    members = Members(ttl_s=TTL_S, interval_s=INTERVAL_S)
    plan = PartitionPlan(
        service="demo", durable=unique_name("reclaim"), partitions=1, subject=lambda k: f"k.p{k}"
    )
    in_flight = asyncio.Event()
    never = asyncio.Event()
    dying_seen: list[bytes] = []
    next_seen: list[tuple[bytes, float]] = []
    loop = asyncio.get_running_loop()

    async def hang(message: BusMessage) -> None:
        dying_seen.append(message.data)
        in_flight.set()
        await never.wait()  # the process dies while handling it

    async def serve(message: BusMessage) -> None:
        next_seen.append((message.data, loop.time()))

    def owner(bus: EventBus, instance_id: str, handler: MessageHandler) -> PartitionOwner:
        return PartitionOwner(plan, handler, bus=bus, membership=members.membership(instance_id))

    dying = owner(dying_bus, "dying", hang)
    taker = owner(next_bus, "next", serve)
    try:
        for bus in (dying_bus, next_bus):
            await bus.start()
        await members.join("dying", "demo")
        await dying.start()
        await until(lambda: dying.owned == {0})
        for data in (b"first", b"second", b"third"):
            await next_bus.publish("k.p0", data)
        await asyncio.wait_for(in_flight.wait(), 5.0)

        proxy.drop(refuse_s=120.0)  # kill -9: the connection is gone, nothing settled
        died_at = loop.time()
        members.stop_beating("dying")
        stopping = asyncio.create_task(dying.stop(release=False))  # no more lease renewals
        await members.join("next", "demo")
        await taker.start()
        await until(lambda: len(next_seen) == 3, timeout_s=TAKEOVER_BOUND_S + 2 * SLACK_S)

        assert [data for data, _ in next_seen] == [b"first", b"second", b"third"]
        assert next_seen[0][1] - died_at <= TAKEOVER_BOUND_S + SLACK_S
        assert dying_seen == [b"first"]
        assert taker.stats.reclaimed == 1
        await stopping
    finally:
        never.set()
        await taker.stop()
        await members.close()
        for bus in (next_bus, dying_bus):
            await bus.close()
        proxy.close()
        await delete_nats_stream(url, settings.stream)
