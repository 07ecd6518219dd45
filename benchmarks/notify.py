"""Notification channels against loopback look-alikes of their providers.

1. Telegram ``sendMessage`` latency through ``TelegramChannel`` at a fixed rate (open loop:
   each send starts at its scheduled time), spread over as many chats as messages per
   second so the per-chat limit (1/s) holds; the global limit is raised above the rate
   (Telegram's own 30/s would otherwise be what is measured).
2. Deliveries per second per channel (Telegram, SMS, Web Push, FCM): ``--concurrency``
   sends in flight, ``--count`` messages each.
3. Event-to-delivery latency through the outbox at ``--rate`` events/s: a circuit-breaker
   event published on the in-process bus -> the hub's durable consumer -> recipients,
   preferences, templates -> outbox row committed (SQLite file) -> the delivery worker
   claims it -> ``sendMessage`` -> arrival at the Telegram look-alike. One tenant per chat
   (``2 x rate`` chats, each hit every 2 s, under the 1 msg/s per-chat limit); recipients
   and their chats come from an in-memory directory (the users tables are not read).

Prints one JSON document. The look-alike servers are the test peers (tests/notify/peers),
served by uvicorn in a thread of this process, so client and server share the CPU.

    python benchmarks/notify.py --rate 100 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.loopback_server import serving_on_loopback  # noqa: E402
from tests.notify.peers.push import PushPeer, Subscriber, service_account  # noqa: E402
from tests.notify.peers.sms import SmsPeer  # noqa: E402
from tests.notify.peers.telegram import TelegramPeer  # noqa: E402

from chainflow.core.clock import WallClock  # noqa: E402
from chainflow.core.settings import DatabaseSettings, NotifySettings  # noqa: E402
from chainflow.hub.bus.memory import InProcessBus  # noqa: E402
from chainflow.notify.channels.base import Channel, DeliveryResult, Message  # noqa: E402
from chainflow.notify.channels.push import PushChannel  # noqa: E402
from chainflow.notify.channels.registry import ChannelRegistry  # noqa: E402
from chainflow.notify.channels.sms import SmsChannel  # noqa: E402
from chainflow.notify.channels.telegram import TelegramChannel  # noqa: E402
from chainflow.notify.consumers import EventConsumers  # noqa: E402
from chainflow.notify.delivery import DeliveryWorker  # noqa: E402
from chainflow.notify.directory import Recipient  # noqa: E402
from chainflow.notify.intake import OutboxWriter  # noqa: E402
from chainflow.notify.metrics import NotifyMetrics  # noqa: E402
from chainflow.notify.models import NotificationOutbox  # noqa: E402
from chainflow.notify.templates import TemplateRenderer  # noqa: E402
from chainflow.runtime.notify_wiring import event_sources  # noqa: E402
from chainflow.storage.relational import Database  # noqa: E402

TOKEN = "1:benchmark-token"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def message(channel: str, address: str, i: int) -> Message:
    return Message(
        idempotency_key=f"bench-{i}:{channel}",
        channel=channel,
        address=address,
        subject="Signal <EURUSD>",
        text=f"buy 0.10 lots @ 1.0850 & more ({i})",
        html=None,
        severity="info",
    )


async def telegram_latency(settings: NotifySettings, rate: float, seconds: float) -> dict[str, Any]:
    channel = TelegramChannel(settings, clock=WallClock())
    chats = max(1, int(rate * 2))  # each chat every 2 s: jitter never meets the 1/s limit
    latencies: list[float] = []
    results: list[DeliveryResult] = []

    async def one(i: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        result = await channel.send(message("telegram", str(10_000 + i % chats), i))
        latencies.append((time.perf_counter() - at) * 1000)
        results.append(result)

    start = time.perf_counter() + 0.2
    total = int(rate * seconds)
    await asyncio.gather(*(one(i, start + i / rate) for i in range(total)))
    await channel.close()
    return {
        "rate_per_s": rate,
        "messages": total,
        "delivered": sum(r.ok for r in results),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
    }


class Tenants:
    """One member per tenant, each with one Telegram chat: directory and address book."""

    def __init__(self, count: int) -> None:
        self.ids = [f"{i:032x}" for i in range(1, count + 1)]

    def chat(self, tenant_id: str) -> str:
        return str(10_000 + int(tenant_id, 16))

    async def user(self, tenant_id: str, user_id: str) -> Recipient | None:
        return (await self.members(tenant_id))[0]

    async def members(self, tenant_id: str) -> list[Recipient]:
        return [Recipient(f"u{tenant_id}"[:32], tenant_id, "", "en", "UTC", "owner", "Bench")]

    async def tenant_name(self, tenant_id: str) -> str:
        return "Bench"

    async def addresses(self, tenant_id: str, user_id: str) -> dict[str, list[str]]:
        return {"telegram": [self.chat(tenant_id)]}


async def outbox_latency(
    settings: NotifySettings, peer: TelegramPeer, rate: float, seconds: float, home: Path
) -> dict[str, Any]:
    clock = WallClock()
    database = Database(
        f"sqlite+aiosqlite:///{home / 'notify.db'}", DatabaseSettings(), clock=clock
    )
    async with database.unit_of_work(system=True) as uow:
        connection = await uow.session.connection()
        metadata = NotificationOutbox.__table__.metadata
        tables = [t for name, t in metadata.tables.items() if name.startswith("notification_")]
        await connection.run_sync(lambda c: metadata.create_all(c, tables=tables))
    tenants = Tenants(max(1, int(rate * 2)))
    channels = ChannelRegistry([TelegramChannel(settings, clock=clock)])
    worker = DeliveryWorker(
        database=database,
        channels=channels,
        clock=clock,
        settings=settings,
        metrics=NotifyMetrics(),
    )
    writer = OutboxWriter(
        database=database,
        directory=tenants,
        addresses=tenants,
        channels=channels,
        renderer=TemplateRenderer(base_url="https://app.test", default_locale="en"),
        clock=clock,
        unsubscribe_url="https://app.test/settings/notifications",
        on_queued=worker.wake,
    )
    bus = InProcessBus()
    consumers = EventConsumers(bus, writer, event_sources())
    await consumers.start()
    await worker.start()
    published: dict[str, float] = {}
    total = int(rate * seconds)

    async def one(i: int, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        tenant_id = tenants.ids[i % len(tenants.ids)]
        body = {
            "type": "circuit_breaker",
            "tenant_id": tenant_id,
            "reason": f"ev{i}.",
            "ts": clock.now_ms(),
        }
        published[f"ev{i}."] = time.monotonic()
        await bus.publish(f"trading.risk.{tenant_id}", json.dumps(body).encode())

    start = time.perf_counter() + 0.2
    await asyncio.gather(*(one(i, start + i / rate) for i in range(total)))
    deadline = time.monotonic() + 60
    while len(peer.sent) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await consumers.stop()
    await worker.stop()
    await channels.close()
    await bus.close()
    await database.dispose()
    latencies = []
    for sent in list(peer.sent):
        reason = next((w for w in sent["read"].split() if w in published), None)
        if reason is not None:
            latencies.append((sent["at"] - published[reason]) * 1000)
    return {
        "rate_per_s": rate,
        "events": total,
        "delivered": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
    }


async def throughput(
    channel: Channel, address: Callable[[int], str], count: int, concurrency: int
) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    delivered = 0

    async def one(i: int) -> None:
        nonlocal delivered
        async with gate:
            result = await channel.send(message(channel.name, address(i), i))
        delivered += result.ok  # after the await: no read-modify-write across it

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    await channel.close()
    return {"messages": count, "delivered": delivered, "per_s": round(count / elapsed, 1)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    chats = {str(10_000 + i) for i in range(max(int(args.rate * 2), args.count))}
    telegram = TelegramPeer(token=TOKEN, chats=chats)
    sms = SmsPeer(account_id="AC1", auth_token="secret")
    push = PushPeer()
    with ExitStack() as stack:
        for peer in (telegram, sms, push):
            host, port = stack.enter_context(serving_on_loopback(peer.app()))
            peer.base_url = f"http://{host}:{port}"
        account, push.fcm_public_key = service_account(f"{push.base_url}/token")
        vapid = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        settings = NotifySettings(
            telegram_bot_token=SecretStr(TOKEN),
            telegram_api_base_url=telegram.base_url,
            telegram_global_rate_per_s=max(args.rate * 4, 1000.0),
            telegram_chat_rate_per_s=1.0,
            sms_base_url=sms.base_url,
            sms_account_id="AC1",
            sms_auth_token=SecretStr("secret"),
            sms_from="+15005550006",
            webpush_vapid_private_key=SecretStr(vapid.decode()),
            fcm_service_account_json=SecretStr(json.dumps(account)),
            fcm_base_url=push.base_url,
            fcm_token_url=f"{push.base_url}/token",
        )
        latency = await telegram_latency(settings, args.rate, args.seconds)
        outbox_peer = TelegramPeer(token=TOKEN, chats={str(10_000 + i) for i in range(1, 10_000)})
        host, port = stack.enter_context(serving_on_loopback(outbox_peer.app()))
        outbox_peer.base_url = f"http://{host}:{port}"
        home = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        outbox_settings = settings.model_copy(
            update={"telegram_api_base_url": outbox_peer.base_url}
        )
        outbox = await outbox_latency(outbox_settings, outbox_peer, args.rate, args.seconds, home)
        push.subscribers["bench"] = Subscriber()
        subscription = json.dumps(
            push.subscribers["bench"].subscription(f"{push.base_url}/push/bench")
        )
        clock = WallClock()
        runs: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
            "telegram": lambda: throughput(
                TelegramChannel(settings, clock=clock),
                lambda i: str(10_000 + i),
                args.count,
                args.concurrency,
            ),
            "sms": lambda: throughput(
                SmsChannel(settings), lambda i: f"+6281{i:08d}", args.count, args.concurrency
            ),
            "webpush": lambda: throughput(
                PushChannel(settings, clock=clock),
                lambda _i: subscription,
                args.count,
                args.concurrency,
            ),
            "fcm": lambda: throughput(
                PushChannel(settings, clock=clock),
                lambda i: f"fcm:device-{i}",
                args.count,
                args.concurrency,
            ),
        }
        per_channel = {name: await make() for name, make in runs.items()}
    return {
        "benchmark": "notify",
        "python": platform.python_version(),
        "telegram_send_latency": latency,
        "event_to_delivery_latency": outbox,
        "deliveries_per_channel": per_channel,
        "notes": "loopback peers in this process (client and servers share the CPU); "
        "the Telegram global limit is raised above the rate (Telegram's is 30 msg/s)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="Telegram sends per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=1000, help="messages per channel")
    parser.add_argument("--concurrency", type=int, default=32)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
