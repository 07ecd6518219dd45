"""Contract of ``hub.api.EventBus``: the in-process bus and NATS JetStream pass the same tests.

Each NATS test gets its own stream and subject prefix and deletes the stream afterwards.
Redelivery runs on a one-second ack wait so that the whole file stays fast; waits poll
with small steps instead of sleeping for fixed times.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import nats
import nats.js.errors
import pytest

from chainflow.core.errors import ConfigurationError, DependencyUnavailable, InvalidInput
from chainflow.core.messages import topic
from chainflow.core.settings import BusSettings
from chainflow.hub.api import BusMessage, EventBus, InTurnDelivery, subscribe_in_turn
from chainflow.hub.bus import open_bus, subject_matches
from tests.fixtures.backends import require_backend, unique_name

ACK_WAIT_S = 1.0
MAX_DELIVER = 3
REQUEST_TIMEOUT_S = 2.0
WAIT_S = 5.0
QUIET_S = 0.3
UNREACHABLE_URL = "nats://bus-user:s3cret-pw@127.0.0.1:1"


async def eventually(predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)


@dataclass
class Received:
    subject: str
    data: bytes
    headers: dict[str, str]
    delivery_count: int
    at_s: float


@dataclass
class Recorder:
    """A handler that records what it receives and can be told how to settle."""

    received: list[Received] = field(default_factory=list)
    settle: Callable[[BusMessage], object] | None = None

    async def __call__(self, message: BusMessage) -> None:
        self.received.append(
            Received(
                message.subject,
                message.data,
                dict(message.headers),
                message.delivery_count,
                asyncio.get_running_loop().time(),
            )
        )
        if self.settle is not None:
            outcome = self.settle(message)
            if asyncio.iscoroutine(outcome):
                await outcome

    @property
    def data(self) -> list[bytes]:
        return [r.data for r in self.received]


class Hang:
    """A handler that never returns until ``release`` is set: a hung or killed process."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, _message: BusMessage) -> None:
        await self.release.wait()


@dataclass
class BusUnderTest:
    """A bus of one backend, plus a way to open more clients of the same deployment."""

    backend: str
    settings: BusSettings
    bus: EventBus
    opened: list[EventBus] = field(default_factory=list)

    async def open_client(self) -> EventBus:
        """Return another client: a new connection on NATS, the same bus in process."""
        if self.backend == "memory":
            return self.bus
        client = open_bus(self.settings)
        await client.start()
        self.opened.append(client)
        return client


def bus_settings(url: str) -> BusSettings:
    return BusSettings(
        url=url,
        stream=unique_name("CF").upper(),
        subject_prefix=unique_name("cf"),
        ack_wait_s=ACK_WAIT_S,
        max_deliver=MAX_DELIVER,
        request_timeout_s=REQUEST_TIMEOUT_S,
    )


async def delete_stream(url: str, stream: str) -> None:
    client = await nats.connect(url)
    try:
        await client.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await client.close()


@asynccontextmanager
async def bus_under_test(backend: str, ack_wait_s: float) -> AsyncIterator[BusUnderTest]:
    """A bus of ``backend`` with its own stream (deleted afterwards) and ``ack_wait_s``."""
    url = "memory://" if backend == "memory" else require_backend("nats")
    settings = bus_settings(url).model_copy(update={"ack_wait_s": ack_wait_s})
    bus = open_bus(settings)
    await bus.start()
    harness = BusUnderTest(backend, settings, bus)
    try:
        yield harness
    finally:
        for client in [*harness.opened, bus]:
            await client.close()
        if backend == "nats":
            await delete_stream(url, settings.stream)


@pytest.fixture(params=["memory", "nats"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[BusUnderTest]:
    async with bus_under_test(request.param, ACK_WAIT_S) as harness:
        yield harness


class TestOpenBus:
    def test_memory_url_returns_in_process_bus(self) -> None:
        bus = open_bus(BusSettings(url="memory://"))
        assert isinstance(bus, EventBus)
        assert bus.backend == "memory"

    @pytest.mark.parametrize(
        "url", ["nats://127.0.0.1:4222", "tls://h:4222", "nats://a:4222,b:4222,nats://c:4222"]
    )
    def test_nats_url_returns_jetstream_bus(self, url: str) -> None:
        bus = open_bus(BusSettings(url=url))
        assert isinstance(bus, EventBus)
        assert bus.backend == "nats"

    def test_unknown_scheme_raises_configuration_error_without_password(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            open_bus(BusSettings(url="amqp://u:hunter2@h:5672"))
        message = caught.value.message
        assert "hunter2" not in message
        assert "amqp://u:***@h:5672" in message
        for scheme in ("memory://", "nats://", "tls://"):
            assert scheme in message

    def test_prefix_with_wildcard_raises_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="SUBJECT_PREFIX"):
            open_bus(BusSettings(url="nats://127.0.0.1:4222", subject_prefix="cf.*"))


class TestSubjectMatches:
    @pytest.mark.parametrize(
        ("pattern", "subject", "expected"),
        [
            ("a.b.c", "a.b.c", True),
            ("a.b.c", "a.b", False),
            ("a.b", "a.b.c", False),
            ("a.*.c", "a.x.c", True),
            ("a.*.c", "a.x.y.c", False),
            ("a.*", "a", False),
            ("a.>", "a.b", True),
            ("a.>", "a.b.c.d", True),
            ("a.>", "a", False),
            (">", "a", True),
            ("*.b.>", "x.b.c", True),
            ("*.b.>", "x.c.c", False),
        ],
    )
    def test_pattern_and_subject_give_expected_match(
        self, pattern: str, subject: str, expected: bool
    ) -> None:
        assert subject_matches(pattern, subject) is expected


class TestStart:
    async def test_unreachable_nats_raises_dependency_unavailable_without_password(
        self,
    ) -> None:
        bus = open_bus(BusSettings(url=UNREACHABLE_URL))
        started_s = asyncio.get_running_loop().time()
        with pytest.raises(DependencyUnavailable) as caught:
            await bus.start()
        assert asyncio.get_running_loop().time() - started_s < 5.0
        assert "s3cret-pw" not in caught.value.message
        assert "127.0.0.1:1" in caught.value.message
        await bus.close()

    async def test_publish_after_close_raises_dependency_unavailable(
        self, subject: BusUnderTest
    ) -> None:
        await subject.bus.close()
        with pytest.raises(DependencyUnavailable):
            await subject.bus.publish("a.b", b"x")


class TestHealth:
    async def test_started_bus_reports_ok(self, subject: BusUnderTest) -> None:
        await subject.bus.publish("health.check", b"x")
        report = await subject.bus.health()
        assert report.ok is True
        assert report.backend == subject.backend
        if subject.backend == "nats":
            assert report.latency_ms is not None
            assert report.extra["messages"] == 1
            assert report.extra["stream"] == subject.settings.stream

    async def test_closed_bus_reports_not_ok(self, subject: BusUnderTest) -> None:
        await subject.bus.close()
        assert (await subject.bus.health()).ok is False


class TestLiveSubscribe:
    async def test_two_subscribers_each_receive_every_message(self, subject: BusUnderTest) -> None:
        first, second = Recorder(), Recorder()
        await subject.bus.subscribe("orders.created", first)
        await subject.bus.subscribe("orders.created", second)
        await subject.bus.publish("orders.created", b"1", headers={"trace": "t-1"})
        await subject.bus.publish("orders.created", b"2")
        await eventually(lambda: len(first.received) == 2 and len(second.received) == 2)
        assert first.data == second.data == [b"1", b"2"]
        assert first.received[0].subject == "orders.created"
        assert first.received[0].headers == {"trace": "t-1"}

    async def test_single_token_wildcard_matches_one_token_only(
        self, subject: BusUnderTest
    ) -> None:
        recorder = Recorder()
        await subject.bus.subscribe("ticks.*.eurusd", recorder)
        await subject.bus.publish("ticks.t1.eurusd", b"one-token")
        await subject.bus.publish("ticks.t1.x.eurusd", b"two-tokens")
        await subject.bus.publish("ticks.t2.eurusd", b"other-tenant")
        await eventually(lambda: len(recorder.received) == 2)
        await asyncio.sleep(QUIET_S)
        assert recorder.data == [b"one-token", b"other-tenant"]

    async def test_tail_wildcard_matches_every_deeper_subject(self, subject: BusUnderTest) -> None:
        recorder = Recorder()
        await subject.bus.subscribe("ticks.>", recorder)
        await subject.bus.publish("ticks.t1", b"a")
        await subject.bus.publish("ticks.t1.eurusd.more", b"b")
        await subject.bus.publish("bars.t1", b"not-ticks")
        await eventually(lambda: len(recorder.received) == 2)
        await asyncio.sleep(QUIET_S)
        assert recorder.data == [b"a", b"b"]
        assert recorder.received[1].subject == "ticks.t1.eurusd.more"

    async def test_slow_handler_does_not_block_publish_or_others(
        self, subject: BusUnderTest
    ) -> None:
        release = asyncio.Event()
        fast = Recorder()

        async def slow(_message: BusMessage) -> None:
            await release.wait()

        await subject.bus.subscribe("work.item", slow)
        await subject.bus.subscribe("work.item", fast)
        for index in range(3):
            await asyncio.wait_for(subject.bus.publish("work.item", str(index).encode()), 2.0)
        await eventually(lambda: len(fast.received) == 3)
        release.set()

    @pytest.mark.parametrize("in_turn", [False, True], ids=["queued", "in_turn"])
    async def test_unsubscribed_handler_receives_nothing_more(
        self, subject: BusUnderTest, in_turn: bool
    ) -> None:
        recorder = Recorder()
        if in_turn:
            subscription = await subscribe_in_turn(subject.bus, "a.b", recorder)
        else:
            subscription = await subject.bus.subscribe("a.b", recorder)
        await subject.bus.publish("a.b", b"before")
        await eventually(lambda: len(recorder.received) == 1)
        await subscription.unsubscribe()
        await subject.bus.publish("a.b", b"after")
        await asyncio.sleep(QUIET_S)
        assert recorder.data == [b"before"]

    async def test_wildcard_subscribers_that_come_and_go_see_a_subject_published_before(
        self, subject: BusUnderTest
    ) -> None:
        # The in-process bus remembers what each published subject matches; subscribing and
        # unsubscribing wildcards must change what the next publication of it reaches.
        early, late = Recorder(), Recorder()
        first = await subject.bus.subscribe("quotes.*.eurusd", early)
        await subject.bus.publish("quotes.t1.eurusd", b"1")
        await eventually(lambda: len(early.received) == 1)
        await subject.bus.subscribe("quotes.>", late)
        await subject.bus.publish("quotes.t1.eurusd", b"2")
        await eventually(lambda: len(early.received) == 2 and len(late.received) == 1)
        await first.unsubscribe()
        await subject.bus.publish("quotes.t1.eurusd", b"3")
        await eventually(lambda: len(late.received) == 2)
        await asyncio.sleep(QUIET_S)
        assert (early.data, late.data) == ([b"1", b"2"], [b"2", b"3"])


class TestSubscribeInTurn:
    """``subscribe_in_turn``: the in-process bus runs the handler in ``publish``; NATS, which
    cannot, subscribes it live. Either way it gets what a live subscriber gets."""

    async def test_each_message_once_in_order_and_at_once_in_process(
        self, subject: BusUnderTest
    ) -> None:
        in_turn, queued = Recorder(), Recorder()
        await subject.bus.subscribe("ticks.>", queued)
        await subscribe_in_turn(subject.bus, "ticks.>", in_turn)
        await subscribe_in_turn(subject.bus, "ticks.t1", in_turn)  # literal and wildcard
        assert isinstance(subject.bus, InTurnDelivery) is (subject.backend == "memory")
        await subject.bus.publish("ticks.t1", b"1")
        if subject.backend == "memory":  # no later turn of the loop needed
            assert in_turn.data == [b"1", b"1"]
            assert queued.data == []  # its worker takes the message on a later turn
        await subject.bus.publish("ticks.t2", b"2")
        await eventually(lambda: len(in_turn.received) == 3 and len(queued.received) == 2)
        await asyncio.sleep(QUIET_S)
        assert in_turn.data == [b"1", b"1", b"2"]
        assert queued.data == [b"1", b"2"]

    async def test_a_failing_handler_fails_neither_the_publish_nor_later_messages(
        self, subject: BusUnderTest
    ) -> None:
        def fail_first(message: BusMessage) -> None:
            if message.data == b"bad":
                raise RuntimeError("handler failed")

        recorder = Recorder(settle=fail_first)
        await subscribe_in_turn(subject.bus, "orders.created", recorder)
        await subject.bus.publish("orders.created", b"bad")
        await subject.bus.publish("orders.created", b"good")
        await eventually(lambda: len(recorder.received) == 2)
        assert recorder.data == [b"bad", b"good"]

    async def test_a_handler_that_publishes_is_delivered_in_publish_order(
        self, subject: BusUnderTest
    ) -> None:
        """The tick path's case: its handler publishes the answer to a forwarder in turn."""
        answers = Recorder()

        async def answer(message: BusMessage) -> None:
            await subject.bus.publish("answers.c1", b"answer-" + message.data)

        await subscribe_in_turn(subject.bus, "ticks.>", answer)
        await subscribe_in_turn(subject.bus, "answers.c1", answers)
        for n in (b"1", b"2", b"3"):
            await subject.bus.publish("ticks.t1", n)
        if subject.backend == "memory":
            assert answers.data == [b"answer-1", b"answer-2", b"answer-3"]
        await eventually(lambda: len(answers.received) == 3)
        assert answers.data == [b"answer-1", b"answer-2", b"answer-3"]


class TestEscapedSymbols:
    async def test_symbol_with_dot_routes_only_to_its_own_subscriber(
        self, subject: BusUnderTest
    ) -> None:
        plain, suffixed, every_symbol = Recorder(), Recorder(), Recorder()
        plain_topic = topic("bridge", "tick", "accepted", tokens=("t1", "EURUSD"))
        suffixed_topic = topic("bridge", "tick", "accepted", tokens=("t1", "EURUSD.a"))
        await subject.bus.subscribe(plain_topic, plain)
        await subject.bus.subscribe(suffixed_topic, suffixed)
        await subject.bus.subscribe("bridge.tick.accepted.t1.*", every_symbol)
        await subject.bus.publish(suffixed_topic, b"suffixed")
        await subject.bus.publish(plain_topic, b"plain")
        await eventually(lambda: len(every_symbol.received) == 2)
        await asyncio.sleep(QUIET_S)
        assert plain.data == [b"plain"]
        assert suffixed.data == [b"suffixed"]
        assert suffixed.received[0].subject == suffixed_topic


class TestInvalidInput:
    @pytest.mark.parametrize("bad", ["", "a..b", "a.*", "a.>", "a b", "a.b*"])
    async def test_publish_to_malformed_subject_raises_invalid_input(
        self, subject: BusUnderTest, bad: str
    ) -> None:
        with pytest.raises(InvalidInput, match="received"):
            await subject.bus.publish(bad, b"x")

    @pytest.mark.parametrize("bad", ["", "a.>.b", "a..b", "a.b>"])
    async def test_subscribe_to_malformed_pattern_raises_invalid_input(
        self, subject: BusUnderTest, bad: str
    ) -> None:
        with pytest.raises(InvalidInput):
            await subject.bus.subscribe(bad, Recorder())

    @pytest.mark.parametrize("bad", ["", "a.b", "a*", "with space"])
    async def test_malformed_durable_name_raises_invalid_input(
        self, subject: BusUnderTest, bad: str
    ) -> None:
        with pytest.raises(InvalidInput, match="durable"):
            await subject.bus.subscribe("a.b", Recorder(), durable=bad)

    async def test_durable_reused_for_other_subject_raises_invalid_input(
        self, subject: BusUnderTest
    ) -> None:
        await subject.bus.subscribe("a.b", Recorder(), durable="worker")
        with pytest.raises(InvalidInput, match="bound to subject 'a.b'"):
            await subject.bus.subscribe("a.c", Recorder(), durable="worker")


class TestDurableSubscribe:
    async def test_message_published_while_unsubscribed_delivered_on_resubscribe(
        self, subject: BusUnderTest
    ) -> None:
        first = Recorder()
        subscription = await subject.bus.subscribe("jobs.run", first, durable="runner")
        await subscription.unsubscribe()
        await subject.bus.publish("jobs.run", b"kept")
        second = Recorder()
        await subject.bus.subscribe("jobs.run", second, durable="runner")
        await eventually(lambda: second.data == [b"kept"])
        assert first.received == []

    async def test_message_kept_across_closing_and_reopening_the_client(
        self, subject: BusUnderTest
    ) -> None:
        subscription = await subject.bus.subscribe("jobs.run", Recorder(), durable="runner")
        await subscription.unsubscribe()
        await subject.bus.publish("jobs.run", b"survives")
        if subject.backend == "nats":
            await subject.bus.close()
        reopened = await subject.open_client()
        recorder = Recorder()
        await reopened.subscribe("jobs.run", recorder, durable="runner")
        await eventually(lambda: recorder.data == [b"survives"])
        assert recorder.received[0].delivery_count == 1

    async def test_message_published_before_durable_existed_not_delivered(
        self, subject: BusUnderTest
    ) -> None:
        await subject.bus.publish("jobs.run", b"too-early")
        recorder = Recorder()
        await subject.bus.subscribe("jobs.run", recorder, durable="runner")
        await subject.bus.publish("jobs.run", b"on-time")
        await eventually(lambda: len(recorder.received) == 1)
        await asyncio.sleep(QUIET_S)
        assert recorder.data == [b"on-time"]

    async def test_competing_subscribers_receive_each_message_once_overall(
        self, subject: BusUnderTest
    ) -> None:
        async def take_a_moment(_message: BusMessage) -> None:
            await asyncio.sleep(0.01)

        first, second = Recorder(settle=take_a_moment), Recorder(settle=take_a_moment)
        other_client = await subject.open_client()
        await subject.bus.subscribe("jobs.run", first, durable="runner")
        await other_client.subscribe("jobs.run", second, durable="runner")
        sent = [str(index).encode() for index in range(20)]
        for data in sent:
            await subject.bus.publish("jobs.run", data)
        await eventually(lambda: len(first.received) + len(second.received) == len(sent))
        await asyncio.sleep(QUIET_S)
        assert sorted(first.data + second.data) == sorted(sent)
        assert first.received and second.received

    async def test_raising_handler_gets_redelivery_with_count_two(
        self, subject: BusUnderTest
    ) -> None:
        def fail_first(message: BusMessage) -> None:
            if message.delivery_count == 1:
                raise RuntimeError("first attempt fails")

        recorder = Recorder(settle=fail_first)
        await subject.bus.subscribe("jobs.run", recorder, durable="runner")
        await subject.bus.publish("jobs.run", b"retry-me")
        await eventually(lambda: len(recorder.received) == 2)
        await asyncio.sleep(QUIET_S)
        assert [r.delivery_count for r in recorder.received] == [1, 2]
        assert recorder.data == [b"retry-me", b"retry-me"]

    async def test_always_raising_handler_stops_after_max_deliver(
        self, subject: BusUnderTest
    ) -> None:
        def fail(_message: BusMessage) -> None:
            raise RuntimeError("always fails")

        recorder = Recorder(settle=fail)
        await subject.bus.subscribe("jobs.run", recorder, durable="runner")
        await subject.bus.publish("jobs.run", b"poison")
        await eventually(lambda: len(recorder.received) == MAX_DELIVER)
        await asyncio.sleep(QUIET_S)
        assert [r.delivery_count for r in recorder.received] == [1, 2, 3]

    async def test_term_is_never_redelivered(self, subject: BusUnderTest) -> None:
        async def term_then_fail(message: BusMessage) -> None:
            await message.term()
            raise RuntimeError("raised after term: must not nak")

        recorder = Recorder(settle=term_then_fail)
        await subject.bus.subscribe("jobs.run", recorder, durable="runner")
        await subject.bus.publish("jobs.run", b"drop-me")
        await eventually(lambda: len(recorder.received) == 1)
        await asyncio.sleep(ACK_WAIT_S + QUIET_S)
        assert len(recorder.received) == 1

    async def test_nak_with_delay_redelivers_after_the_delay(self, subject: BusUnderTest) -> None:
        delay_s = 0.5

        async def nak_first(message: BusMessage) -> None:
            if message.delivery_count == 1:
                await message.nak(delay_s=delay_s)

        recorder = Recorder(settle=nak_first)
        await subject.bus.subscribe("jobs.run", recorder, durable="runner")
        await subject.bus.publish("jobs.run", b"later")
        await eventually(lambda: len(recorder.received) == 2)
        first, second = recorder.received
        assert second.delivery_count == 2
        assert second.at_s - first.at_s >= delay_s - 0.05

    async def test_unsettled_past_ack_wait_redelivered_to_another_subscriber(
        self, subject: BusUnderTest
    ) -> None:
        hang = Hang()
        stuck, healthy = Recorder(settle=hang), Recorder()
        await subject.bus.subscribe("jobs.run", stuck, durable="runner")
        await subject.bus.publish("jobs.run", b"slow")
        await eventually(lambda: len(stuck.received) == 1)
        await subject.bus.subscribe("jobs.run", healthy, durable="runner")
        await eventually(lambda: len(healthy.received) == 1, timeout_s=ACK_WAIT_S + WAIT_S)
        assert healthy.received[0].delivery_count == 2
        assert healthy.received[0].at_s - stuck.received[0].at_s >= ACK_WAIT_S - 0.05
        hang.release.set()

    async def test_explicit_ack_then_return_is_not_redelivered(self, subject: BusUnderTest) -> None:
        async def ack_twice(message: BusMessage) -> None:
            await message.ack()
            await message.ack()

        recorder = Recorder(settle=ack_twice)
        await subject.bus.subscribe("jobs.run", recorder, durable="runner")
        await subject.bus.publish("jobs.run", b"once")
        await eventually(lambda: len(recorder.received) == 1)
        await asyncio.sleep(ACK_WAIT_S + QUIET_S)
        assert len(recorder.received) == 1


PATIENT_ACK_WAIT_S = 30.0  # far beyond every wait below: what comes sooner was reclaimed


@pytest.fixture(params=["memory", "nats"])
async def patient(request: pytest.FixtureRequest) -> AsyncIterator[BusUnderTest]:
    """A bus whose ack wait (30 s, the default) would outlast the test."""
    async with bus_under_test(request.param, PATIENT_ACK_WAIT_S) as harness:
        yield harness


class TestReclaim:
    """``reclaim(durable)``: what an earlier subscriber left unsettled (a hung or killed
    process) is delivered again at once, in order, instead of after the ack wait."""

    async def test_a_held_delivery_comes_again_at_once_then_the_rest_in_order(
        self, patient: BusUnderTest
    ) -> None:
        hang = Hang()
        await patient.bus.publish("jobs.p0", b"before")  # before the durable: never its
        crashed = await patient.open_client()
        stuck = Recorder(settle=hang)
        await crashed.subscribe("jobs.p0", stuck, durable="part-0", max_in_flight=1)
        for data in (b"first", b"second", b"third"):
            await patient.bus.publish("jobs.p0", data)
        await eventually(lambda: len(stuck.received) == 1)

        next_owner = await patient.open_client()
        assert await next_owner.reclaim("part-0") == 1
        healthy = Recorder()
        started_s = asyncio.get_running_loop().time()
        await next_owner.subscribe("jobs.p0", healthy, durable="part-0", max_in_flight=1)
        await eventually(lambda: len(healthy.received) == 3)
        assert healthy.data == [b"first", b"second", b"third"]
        assert healthy.received[0].at_s - started_s < PATIENT_ACK_WAIT_S / 3
        hang.release.set()  # the hung handler returns late: nothing is delivered again
        await asyncio.sleep(QUIET_S)
        assert healthy.data == [b"first", b"second", b"third"]
        assert stuck.data == [b"first"]

    async def test_a_second_takeover_restarts_where_the_first_left_off(
        self, patient: BusUnderTest
    ) -> None:
        hang = Hang()
        first_owner, second_owner = await patient.open_client(), await patient.open_client()
        stuck_once, stuck_twice = Recorder(settle=hang), Recorder(settle=hang)
        await first_owner.subscribe("jobs.p2", stuck_once, durable="part-2", max_in_flight=1)
        for data in (b"a", b"b"):
            await patient.bus.publish("jobs.p2", data)
        await eventually(lambda: len(stuck_once.received) == 1)
        assert await second_owner.reclaim("part-2") == 1
        await second_owner.subscribe("jobs.p2", stuck_twice, durable="part-2", max_in_flight=1)
        await eventually(lambda: len(stuck_twice.received) == 1)  # "a" again, held again
        third_owner = await patient.open_client()
        assert await third_owner.reclaim("part-2") == 1
        healthy = Recorder()
        await third_owner.subscribe("jobs.p2", healthy, durable="part-2", max_in_flight=1)
        await eventually(lambda: len(healthy.received) == 2)
        assert healthy.data == [b"a", b"b"]
        hang.release.set()

    async def test_nothing_unsettled_takes_nothing_back(self, patient: BusUnderTest) -> None:
        assert await patient.bus.reclaim("never-subscribed") == 0
        done = Recorder()
        subscription = await patient.bus.subscribe("jobs.p1", done, durable="part-1")
        await patient.bus.publish("jobs.p1", b"only")
        await eventually(lambda: len(done.received) == 1)
        await subscription.unsubscribe()  # settled (acked) before it returns
        assert await patient.bus.reclaim("part-1") == 0
        again = Recorder()
        await patient.bus.subscribe("jobs.p1", again, durable="part-1")
        await asyncio.sleep(QUIET_S)
        assert again.received == []

    async def test_an_invalid_durable_name_is_refused(self, patient: BusUnderTest) -> None:
        with pytest.raises(InvalidInput):
            await patient.bus.reclaim("bad name.*")


class TestUnsubscribeDrains:
    """A stopping durable subscriber takes no more messages and lets its handler in flight
    finish (its message acked, not redelivered), up to its stop timeout; a handler still
    running after that is cancelled and its message redelivered."""

    STOP_TIMEOUT_S = min(5.0, ACK_WAIT_S)  # hub.bus.worker_stop.stop_timeout_of

    async def test_handler_in_flight_finishes_and_its_message_is_acked(
        self, subject: BusUnderTest
    ) -> None:
        started, finished = asyncio.Event(), asyncio.Event()

        async def work(message: BusMessage) -> None:
            if message.data == b"first":
                started.set()
                await asyncio.sleep(0.3)
                finished.set()

        first = Recorder(settle=work)
        subscription = await subject.bus.subscribe("jobs.run", first, durable="runner")
        await subject.bus.publish("jobs.run", b"first")
        await asyncio.wait_for(started.wait(), WAIT_S)
        await subject.bus.publish("jobs.run", b"second")
        loop = asyncio.get_running_loop()
        began = loop.time()
        await subscription.unsubscribe()
        took_s = loop.time() - began
        assert finished.is_set()  # unsubscribe returned after the handler did
        assert 0.2 <= took_s < self.STOP_TIMEOUT_S
        successor = Recorder()
        other_client = await subject.open_client()
        await other_client.subscribe("jobs.run", successor, durable="runner")
        await eventually(lambda: successor.data == [b"second"])
        await asyncio.sleep(ACK_WAIT_S + QUIET_S)
        assert first.data == [b"first"]
        assert successor.data == [b"second"]  # "first" was acked: never delivered again
        assert successor.received[0].delivery_count == 1

    async def test_handler_stuck_past_the_stop_timeout_is_cancelled_and_redelivered(
        self, subject: BusUnderTest
    ) -> None:
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def hang(_message: BusMessage) -> None:
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        stuck = Recorder(settle=hang)
        subscription = await subject.bus.subscribe("jobs.run", stuck, durable="runner")
        await subject.bus.publish("jobs.run", b"stuck")
        await asyncio.wait_for(started.wait(), WAIT_S)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await subscription.unsubscribe()
        took_s = loop.time() - began
        assert cancelled.is_set()
        assert self.STOP_TIMEOUT_S - 0.05 <= took_s < self.STOP_TIMEOUT_S + 1.0
        successor = Recorder()
        other_client = await subject.open_client()
        await other_client.subscribe("jobs.run", successor, durable="runner")
        await eventually(lambda: successor.data == [b"stuck"])
        assert successor.received[0].delivery_count == 2


class TestRequest:
    async def test_request_returns_reply_of_serving_handler(self, subject: BusUnderTest) -> None:
        async def echo_upper(data: bytes) -> bytes:
            return data.upper()

        await subject.bus.serve("svc.echo", echo_upper)
        other_client = await subject.open_client()
        assert await other_client.request("svc.echo", b"ping") == b"PING"

    async def test_request_without_responder_raises_dependency_unavailable_fast(
        self, subject: BusUnderTest
    ) -> None:
        started_s = asyncio.get_running_loop().time()
        with pytest.raises(DependencyUnavailable, match="responder"):
            await subject.bus.request("svc.nobody", b"ping", timeout_s=5.0)
        assert asyncio.get_running_loop().time() - started_s < 1.0

    async def test_request_without_reply_in_time_raises_dependency_unavailable(
        self, subject: BusUnderTest
    ) -> None:
        release = asyncio.Event()

        async def hang(_data: bytes) -> bytes:
            await release.wait()
            return b"late"

        await subject.bus.serve("svc.slow", hang)
        with pytest.raises(DependencyUnavailable, match="within 0.2 s"):
            await subject.bus.request("svc.slow", b"ping", timeout_s=0.2)
        release.set()

    async def test_failing_responder_raises_dependency_unavailable(
        self, subject: BusUnderTest
    ) -> None:
        async def broken(_data: bytes) -> bytes:
            raise ValueError("bad request body")

        await subject.bus.serve("svc.broken", broken)
        with pytest.raises(DependencyUnavailable, match="ValueError"):
            await subject.bus.request("svc.broken", b"ping")

    async def test_requests_do_not_reach_event_subscribers(self, subject: BusUnderTest) -> None:
        async def echo(data: bytes) -> bytes:
            return data

        recorder = Recorder()
        await subject.bus.subscribe(">", recorder)
        await subject.bus.serve("svc.echo", echo)
        assert await subject.bus.request("svc.echo", b"ping") == b"ping"
        await asyncio.sleep(QUIET_S)
        assert recorder.received == []


class TestJetStreamStream:
    async def test_two_prefixes_sharing_a_stream_name_both_keep_publishing(self) -> None:
        url = require_backend("nats")
        first_settings = bus_settings(url)
        second_settings = first_settings.model_copy(update={"subject_prefix": unique_name("cf")})
        first, second = open_bus(first_settings), open_bus(second_settings)
        try:
            await first.start()
            await second.start()
            await first.publish("a.b", b"first")
            await second.publish("a.b", b"second")
            assert (await first.health()).extra["messages"] == 2
        finally:
            await first.close()
            await second.close()
            await delete_stream(url, first_settings.stream)
