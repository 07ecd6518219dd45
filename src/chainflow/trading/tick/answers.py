"""A round's answers: its keys scored with one model call, then each key's signal frames.

The tick path (``trading.tick.path``) prepares each key of a round (forming bar previewed,
``TickScorer.prepare``); ``RoundAnswers.score`` runs the model once for all of them
(``scoring.predict_all``), finishes each key's decision and sends it as one ``signal``
frame per tick (``every_tick``) or per change (``on_change``, ``FrameSelector``) to the
tick's connection, with the latency from the frame's receipt. A replica that lost the
lease of the tenant's partition while scoring sends nothing (``TickInput.answers``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chainflow.bridge.api import TicksAccepted
from chainflow.core.clock import Clock
from chainflow.core.cpu_share import CpuShares
from chainflow.hub.api import EventBus
from chainflow.trading.events import connection_topic
from chainflow.trading.tick.latency_histogram import LatencyHistogram
from chainflow.trading.tick.partitions import TickInput
from chainflow.trading.tick.scoring import PreparedScore, TickScorer, predict_all
from chainflow.trading.tick.signal import SignalFrame, TickSignal, encode_frames
from chainflow.trading.tick.state import FrameSelector, KeyState, TickPathStats


@dataclass(frozen=True, slots=True)
class KeyTicks:
    """A key's tick events of a round, its model input prepared at the last one."""

    events: list[TicksAccepted]
    prepared: PreparedScore


class RoundAnswers:
    """Score a round's prepared keys and send their frames; see the module doc."""

    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        scorer: TickScorer,
        stats: TickPathStats,
        input_: TickInput,
        cpu_shares: CpuShares | None,
    ) -> None:
        self._bus, self._clock, self._scorer, self._stats = bus, clock, scorer, stats
        self._input, self._cpu_shares = input_, cpu_shares
        self._frames = FrameSelector()
        self.latency = LatencyHistogram()  # of every signal frame sent

    async def score(self, keys: list[KeyTicks]) -> None:
        """Score the prepared keys with one model call per model, then answer each."""
        if not keys:
            return
        began = time.perf_counter()
        self._stats.model_calls += predict_all([key.prepared for key in keys])
        shared = (time.perf_counter() - began) / len(keys)
        for key in keys:
            began = time.perf_counter()
            signal = await self._scorer.finish(key.prepared)
            await self.answer(key.events, key.prepared.state, signal)
            if self._cpu_shares is not None:
                spent = shared + time.perf_counter() - began
                self._cpu_shares.charge(key.prepared.event.tenant_id, spent)

    async def answer(
        self, events: list[TicksAccepted], state: KeyState | None, signal: TickSignal
    ) -> None:
        """Send ``signal`` as each event's frames to its connection."""
        last_event = events[-1]
        by_connection: dict[str, list[SignalFrame]] = {}
        now_us = self._clock.now_us()
        for event in events:
            latency_ms = round((now_us - event.received_us) / 1000.0, 3)
            frames = self._frames.frames(event, state, signal)
            for frame in frames:
                frame.latency_ms = latency_ms
            if frames:
                self.latency.observe(latency_ms / 1000.0, len(frames))
                by_connection.setdefault(event.connection, []).extend(frames)
        if self._input.answering is not None and not self._input.answers(last_event.tenant_id):
            self._stats.dropped_events += len(events)  # the lease was lost while scoring
            return
        for connection, frames in by_connection.items():
            self._stats.frames += len(frames)
            body = encode_frames(frames)
            await self._bus.publish(connection_topic(last_event.tenant_id, connection), body)
