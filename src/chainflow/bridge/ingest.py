"""One MT5 connection's ingestion: parse, rate-limit, validate, store durably, ack, publish.

The hot path holds no DB session and no FastAPI object: a ``TenantFeed`` (validator and
per-tenant state) is shared by every connection of a tenant, an ``IngestSession`` is one
connection. A frame's ticks are acked only after the time-series store committed them (group
commit), so a restart loses no acked tick.

Acks carry the highest *contiguous settled* ``seq``: a tick is settled when it is stored or
definitively refused (an ``error`` frame told the client why, resending it cannot help).
Rate-limited ticks are not settled: the client resends them, and the ack waits for them.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from chainflow.bridge.bar_aggregator import MultiTimeframeAggregator
from chainflow.bridge.bar_recovery import recover_bars
from chainflow.bridge.bar_table import persist_bars
from chainflow.bridge.bars import AggregatedBar, BarRevised
from chainflow.bridge.events import (
    BarPublished,
    ExecutionReported,
    SymbolsDeclared,
    TickRow,
    TicksAccepted,
    bars_topic,
    executions_topic,
    symbols_declared_topic,
    ticks_topic,
)
from chainflow.bridge.frame_units import MAX_MERGED_ITEMS, Unit, sliced_units, unit_of
from chainflow.bridge.ingest_protocol import (
    Frame,
    ProtocolViolation,
    SeqTracker,
    duplicate_rejection,
    error_frame,
    rejected_frame,
)
from chainflow.bridge.price_sanity import QuarantineChanges
from chainflow.bridge.quarantine import TickQuarantine
from chainflow.bridge.symbols import SYMBOL_PATTERN
from chainflow.bridge.tick_message import (
    RejectCode,
    Rejection,
    parse_tick_message,
)
from chainflow.bridge.tick_rate import TickRateGate
from chainflow.bridge.usage import UsageRecorder
from chainflow.bridge.validation import Accepted, TickValidator
from chainflow.bridge.ws_messages import (
    ExecutionMessage,
    HelloMessage,
    message_seq,
    validate_message,
)
from chainflow.core.auth import Principal
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId, new_id
from chainflow.core.market import Tick
from chainflow.hub.api import EventBus
from chainflow.storage.api import Cache, TimeSeriesStore

MAX_ERROR_FRAMES_PER_MESSAGE = 50


@dataclass(slots=True)
class TenantFeed:
    """Per-tenant ingestion state shared by the tenant's connections."""

    tenant_id: str
    validator: TickValidator
    ticks_per_second: int
    bars: MultiTimeframeAggregator = field(default_factory=MultiTimeframeAggregator)
    stats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    tier: str = ""  # the tenant's tier at its latest connection (usage per tier)


@dataclass(slots=True)
class PendingTicks:
    """A tick unit validated and its live ticks published; its store, the rest of its
    publications, its bars and its ack are still to come (``IngestSession.finish``)."""

    accepted: list[tuple[Accepted, int | None]]
    live: list[tuple[Accepted, int | None]]  # published already
    quarantine: QuarantineChanges
    frames: list[Frame]  # its answer so far (refusals)
    received_us: int

    @classmethod
    def merged(cls, units: Sequence[PendingTicks]) -> PendingTicks:
        """Units begun one after the other, finished as one (one store, one ack): their
        ticks, publications, quarantine changes and refusals in order."""
        if len(units) == 1:
            return units[0]
        return cls(
            [pair for unit in units for pair in unit.accepted],
            [pair for unit in units for pair in unit.live],
            QuarantineChanges(
                [held for unit in units for held in unit.quarantine.held],
                [tick for unit in units for tick in unit.quarantine.released],
            ),
            [frame for unit in units for frame in unit.frames],
            units[0].received_us,
        )


class IngestSession:
    """Handle the frames of one authenticated MT5 connection."""

    def __init__(
        self,
        *,
        principal: Principal,
        feed: TenantFeed,
        store: TimeSeriesStore,
        bus: EventBus,
        cache: Cache,
        clock: Clock,
        usage: UsageRecorder | None = None,
    ) -> None:
        self._usage = usage
        self._principal = principal
        self._feed = feed
        self._store = store
        self._bus = bus
        self._clock = clock
        self._seqs = SeqTracker()
        self._quarantine = TickQuarantine(store, clock)
        self._acked: int | None = None
        self._rate = TickRateGate(cache, clock, principal.tenant_id)
        self.cpu_s = 0.0  # time spent computing on this connection's frames (not waiting)
        self.connection_id = new_id()
        self.signals_mode = "on_change"
        self.symbols: tuple[str, ...] = ()

    def now_us(self) -> int:
        """The session clock's time in microseconds (frames are stamped when read)."""
        return self._clock.now_us()

    @property
    def tenant_id(self) -> str:
        return self._principal.tenant_id

    @property
    def cpu_share(self) -> float:
        """The share of one core the tenant's tier allows (``TierLimits.cpu_share``)."""
        return self._principal.limits.cpu_share

    def unread_for(self, seconds: float) -> None:
        """The connection's frames were left unread for ``seconds`` (the tenant over its CPU
        share): the wait for a rate-limited resend does not count them."""
        self._rate.postpone(seconds)

    async def handle_text(self, text: str) -> list[Frame]:
        """Process one text frame; return the frames to send back (errors, then an ack)."""
        frames: list[Frame] = []
        for unit in self.units([(text, self._clock.now_us())]):
            frames += await self.run_unit(unit)
        return frames

    def units(self, texts: Sequence[tuple[str, int]]) -> list[Unit]:
        """Split frames received together (text, receive time in µs) into units of work,
        in order (``frame_units``): consecutive tick frames become one unit of up to
        ``MAX_MERGED_ITEMS`` ticks (one validation pass, one durable store, one ack)."""
        return list(sliced_units(self.decoded(texts), MAX_MERGED_ITEMS))

    def decoded(self, texts: Iterable[tuple[str, int]]) -> Iterator[Unit]:
        """Yield the unit of each frame (text, receive time in µs), decoding it only when
        it is taken; every frame is a metered message."""
        for text, received_us in texts:
            self._feed.stats["messages"] += 1
            if self._usage is not None:
                self._usage.record(self._principal.tenant_id, ticks=0, messages=1)
            yield unit_of(text, received_us)

    async def run_unit(self, unit: Unit) -> list[Frame]:
        """Do one unit of work; return the frames answering it."""
        begun = await self.begin_unit(unit)
        return await self.finish(begun) if isinstance(begun, PendingTicks) else begun

    async def begin_unit(self, unit: Unit) -> list[Frame] | PendingTicks:
        """Start one unit of work: a message is answered (its frames), a tick unit is
        validated and its live ticks published, its store and ack left to ``finish``."""
        if unit.violation is not None:
            raise ProtocolViolation(unit.violation)
        if unit.items is not None:
            return await self._begin_ingest(unit.items, unit.received_us)
        if unit.message is not None:
            if unit.message.get("type") == "hello":
                return await self._hello(unit.message)
            return await self._execution(unit.message)
        return unit.answer

    async def _execution(self, message: dict[str, Any]) -> list[Frame]:
        """Publish a real fill the client reports; the trading engine reconciles it."""
        report = validate_message(ExecutionMessage, message)
        if isinstance(report, Rejection):
            return [rejected_frame(report)]
        symbol = self._feed.validator.normalize_symbol(report.symbol)
        if SYMBOL_PATTERN.fullmatch(symbol) is None:
            problem = (
                f"expected a symbol matching {SYMBOL_PATTERN.pattern} after normalization; "
                f"received {report.symbol[:40]!r}"
            )
            return [error_frame(RejectCode.INVALID_SYMBOL, problem, message_seq(message))]
        tenant = self._principal.tenant_id
        event = ExecutionReported(tenant, self.connection_id, report.published_fields(symbol))
        await self._bus.publish(executions_topic(tenant), event.to_json())
        self._feed.stats["executions"] += 1
        return []

    async def _hello(self, message: dict[str, Any]) -> list[Frame]:
        """Take the connection's signal mode and symbols; announce the symbols (canonical
        names), so that their state is built before their first tick."""
        hello = validate_message(HelloMessage, message)
        if isinstance(hello, Rejection):
            return [rejected_frame(hello)]
        self.signals_mode = hello.signals or "on_change"
        self.symbols = tuple(s.strip().upper() for s in hello.symbols or ())
        if self.symbols:
            normalize = self._feed.validator.normalize_symbol
            declared = SymbolsDeclared(
                tenant_id=self._principal.tenant_id,
                connection=self.connection_id,
                symbols=tuple(dict.fromkeys(normalize(s) for s in self.symbols)),
                ts=self._clock.now_ms(),
            )
            tenant = self._principal.tenant_id
            await self._bus.publish(symbols_declared_topic(tenant), declared.to_json())
            for symbol in declared.symbols:  # their first ticks go live without a read
                await self._store.load_tick_watermark(TenantId(tenant), symbol)
        return [{"type": "hello", "signals": self.signals_mode, "symbols": list(self.symbols)}]

    async def _begin_ingest(self, items: Sequence[Any], received_us: int) -> PendingTicks:
        """Parse, rate-limit and validate a unit's ticks; publish the live ones now (their
        signals do not wait for the disk, nor for the store of the units before)."""
        began = time.perf_counter()  # CPU of this frame's own work, not of waiting on I/O
        frames: list[Frame] = []
        parsed: list[tuple[Tick, int | None]] = []
        for item in items:
            result = (
                parse_tick_message(item)
                if isinstance(item, dict)
                else Rejection(
                    RejectCode.INVALID_SCHEMA,
                    f"expected a tick object; received {type(item).__name__}",
                )
            )
            if isinstance(result, Rejection):
                self._refuse(result, frames)
            else:
                parsed.append((result.tick, result.seq))
        self._seqs.observe([seq for _, seq in parsed if seq is not None])
        self.cpu_s += time.perf_counter() - began
        parsed = await self._within_rate(parsed, frames)
        began = time.perf_counter()
        accepted: list[tuple[Accepted, int | None]] = []
        for tick, seq in parsed:
            outcome = self._feed.validator.validate(tick, seq)
            if isinstance(outcome, Rejection):
                self._refuse(outcome, frames)
            else:
                accepted.append((outcome, seq))
        self.cpu_s += time.perf_counter() - began
        # A new symbol's held ticks released by this message are stored ahead of its later
        # ticks; quarantined ones are kept (``finish``) before the ack covers them.
        quarantine = self._feed.validator.take_quarantine_changes()
        accepted[:0] = [(Accepted(tick), None) for tick in quarantine.released]
        # A tick later than everything stored for its symbol (the live edge) is scored by
        # the hot path while the store commits it: a signal does not wait for the disk,
        # the ack does. A tick at or before that edge may be a resend of a stored tick
        # (after a reconnect or a restart): it is published once the store took it as new.
        tenant = self._principal.tenant_id
        watermark = self._store.stored_tick_watermark
        live = [
            pair
            for pair in accepted
            if pair[0].tick.ts > _live_edge(watermark(tenant, pair[0].tick.symbol))
        ]
        pending = PendingTicks(accepted, live, quarantine, frames, received_us)
        if live:
            try:
                await self._publish(live, received_us)
            except BaseException:
                self.abandon(pending)
                raise
        return pending

    async def finish(self, pending: PendingTicks) -> list[Frame]:
        """Store a unit's ticks (durable), publish the rest, close bars; return its frames
        (errors, then the ack). Units finish in the order they began."""
        frames = pending.frames
        quarantine = pending.quarantine
        if quarantine.held:
            try:
                await self._quarantine.hold(self._principal.tenant_id, quarantine.held)
            except BaseException:
                self.abandon(pending)
                raise
        stored = await self._store_once(pending) if pending.accepted else []
        if quarantine.released:
            await self._quarantine.mark_released(self._principal.tenant_id, quarantine.released)
        if self._usage is not None and stored:
            self._usage.record(self._principal.tenant_id, ticks=len(stored), messages=0)
        if self._seqs.highest is not None and self._seqs.highest != self._acked:
            self._acked = self._seqs.highest
            frames.append({"type": "ack", "seq": self._acked})
        return frames

    def abandon(self, pending: PendingTicks) -> None:
        """A unit that will not be stored (the connection failed or closed first): its
        ticks are not acked, and their resend must be taken, not refused as duplicates."""
        self._feed.validator.forget([outcome.tick for outcome, _ in pending.accepted])

    async def _store_once(self, pending: PendingTicks) -> list[Tick]:
        """Store the unit's ticks not stored before; publish those not published live;
        return them. A tick the store already held is refused as ``duplicate``: stored
        once, it settles."""
        tenant = self._principal.tenant_id
        store = self._store
        accepted, live, frames = pending.accepted, pending.live, pending.frames
        ticks = [outcome.tick for outcome, _ in accepted]
        try:
            recovered = await self._recover_bars(ticks)
            is_new = await store.insert_ticks(tenant, ticks)  # durable
        except BaseException:
            # Not acked (the bus or the store failed, or the connection went): the resend
            # must be taken, not refused as a duplicate of a tick that may not be stored.
            # A tick that was stored after all is then settled by the store's own check.
            self._feed.validator.forget(ticks)
            raise
        live_ids = {id(pair) for pair in live}
        later: list[tuple[Accepted, int | None]] = []
        for pair, new in zip(accepted, is_new, strict=True):
            if not new:
                self._refuse(duplicate_rejection(pair[0].tick, pair[1]), frames)
            elif id(pair) not in live_ids:
                later.append(pair)
            elif pair[1] is not None:
                self._seqs.settle(pair[1])
        if later:
            await self._publish(later, pending.received_us)
            for _, seq in later:
                if seq is not None:
                    self._seqs.settle(seq)
        stored = [tick for tick, new in zip(ticks, is_new, strict=True) if new]
        self._feed.stats["ticks_stored"] += len(stored)
        if stored or recovered:
            await self._update_bars(stored, recovered)
        return stored

    async def _within_rate(
        self, parsed: list[tuple[Tick, int | None]], frames: list[Frame]
    ) -> list[tuple[Tick, int | None]]:
        """Admit what the tier's tick rate allows, in order (``TickRateGate``)."""
        admitted, refused = await self._rate.admit(parsed, self._feed.ticks_per_second)
        if refused is not None:
            self._feed.stats["rate_limited"] += refused.count
            frames.append(refused.frame)
        return admitted

    def _refuse(self, rejection: Rejection, frames: list[Frame]) -> None:
        self._feed.stats[f"rejected_{rejection.code.value}"] += 1
        if rejection.seq is not None:
            self._seqs.settle(rejection.seq)
        if len(frames) < MAX_ERROR_FRAMES_PER_MESSAGE:
            frames.append(error_frame(rejection.code, rejection.message, rejection.seq))

    async def _publish(self, accepted: list[tuple[Accepted, int | None]], received_us: int) -> None:
        by_symbol: dict[str, list[TickRow]] = defaultdict(list)
        for outcome, seq in accepted:
            t = outcome.tick
            row = TickRow(t.ts, t.bid, t.ask, t.volume, outcome.out_of_order, seq)
            by_symbol[t.symbol].append(row)
        now = self._clock.now_ms()
        tenant = self._principal.tenant_id
        for symbol, rows in by_symbol.items():
            event = TicksAccepted(
                tenant,
                symbol,
                now,
                tuple(rows),
                connection=self.connection_id,
                signals=self.signals_mode,
                received_us=received_us,
            )
            subject = ticks_topic(tenant, symbol, partitions=self._bus.partitions)
            await self._bus.publish(subject, event.to_json())

    async def _recover_bars(self, ticks: list[Tick]) -> list[tuple[AggregatedBar, bool]]:
        """Continue the stored bars of each symbol new to this process (``bar_recovery``).

        Runs before the ticks are stored, so the replay holds only ticks stored earlier.
        """
        aggregator = self._feed.bars
        closed: list[tuple[AggregatedBar, bool]] = []
        for symbol in {t.symbol for t in ticks} - set(aggregator.symbols):
            closed += await recover_bars(self._store, self._principal.tenant_id, symbol, aggregator)
        return closed

    async def _update_bars(
        self, ticks: list[Tick], recovered: list[tuple[AggregatedBar, bool]]
    ) -> None:
        """Feed stored ticks to the bars; persist and publish the bars that closed."""
        began = time.perf_counter()
        finished = [bar for bar, _ in recovered]
        revised = [was_revised for _, was_revised in recovered]
        for tick in ticks:
            for event in self._feed.bars.on_tick(tick):
                finished.append(event.bar)
                revised.append(isinstance(event, BarRevised))
                self._feed.stats["bars_revised" if revised[-1] else "bars_closed"] += 1
        self.cpu_s += time.perf_counter() - began
        if not finished:
            return
        tenant = self._principal.tenant_id
        await persist_bars(self._store, tenant, finished)
        for bar, was_revised in zip(finished, revised, strict=True):
            spread = bar.spread_mean
            published = BarPublished(
                tenant,
                bar.symbol,
                bar.timeframe.value,
                bar.ts,
                bar.open,
                bar.high,
                bar.low,
                bar.close,
                bar.volume,
                bar.tick_count,
                spread if math.isfinite(spread) else None,
                revised=was_revised,
            )
            await self._bus.publish(
                bars_topic(tenant, bar.symbol, bar.timeframe, partitions=self._bus.partitions),
                published.to_json(),
            )


def _live_edge(watermark: int | None) -> int | float:
    """Return the ts after which a tick is certainly new (none while the store is unsure)."""
    return math.inf if watermark is None else watermark
