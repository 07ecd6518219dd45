"""The per-tick hot path: every accepted tick comes back as a signal on its own connection.

DESIGN.md §4: a tick accepted on ``WS /ws/ticks`` runs streaming features on the forming
bar → model inference → decision → sizing, and a ``signal`` frame carrying the tick's
``seq`` and ``latency_ms`` (from the frame's receipt by the bridge) goes back on that
connection. The bridge publishes accepted ticks while it stores them (a signal does not
wait for the disk; the ack does). ``TickPath`` subscribes to ``bridge.>`` once:

- **Ticks** extend the key's forming bar (late ticks are stored but do not move it). The
  first tick of a new bar commits the forming bar as closed — the key's ``SymbolPipeline``
  (features and regimes), ATR and window of closed vectors advance — so that tick is
  scored on the bar just closed without waiting for the bridge's bar.
- **Bars** of the model's timeframe confirm what was committed: the bridge's bar equal to
  it changes nothing, one this process did not see (or saw differently: it missed ticks,
  e.g. after a restart) advances the state or marks the key stale, and a revised bar or a
  model change rebuilds the key from the stored bars on its next tick.
- **Scoring.** The forming bar is scored with ``FeatureEngine.preview`` (the committed
  state is put back), the tenant's production model (ONNX) and ``ModelStrategy.preview``
  of the trading service's strategy of the key (one hysteresis with the bar-close
  signals); the decision is sized at the tick's ask (buy) or bid (sell) with the forming
  bar's ATR on the paper account's equity and risk-checked (``signal_risk``).
- **Frames.** ``every_tick`` connections get one frame per tick (``hold`` included, with
  the reason while features warm up, no model serves or the breaker halts); ``on_change``
  connections get a frame when the action differs from the last one sent or a new bar
  opened. Under load, a key's queued tick events are scored once, at the last tick.
- **Order with the bar-close path**: ``progress`` (``trading.tick_progress``).

After a restart the forming bar starts at the first tick seen; exact from the next bar.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from chainflow.bridge.api import (
    BarPublished,
    ExecutionReported,
    TicksAccepted,
    all_market_events,
    market_event_kind,
)
from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.state_undo import StateRecord
from chainflow.features.api import (
    BarValues,
    bar_values,
)
from chainflow.hub.api import BusMessage, EventBus, Subscription
from chainflow.ml.api import ServedModel, ServedModels, no_model_reason
from chainflow.storage.api import TimeSeriesStore
from chainflow.trading.decision import Decision, DecisionInput, TradingPreferences
from chainflow.trading.events import connection_topic
from chainflow.trading.paper_desk import PaperDesk
from chainflow.trading.signal_risk import CheckedSignal, size_and_check
from chainflow.trading.signal_sizing import SizingPolicy
from chainflow.trading.strategy import ModelStrategy, StrategyContext
from chainflow.trading.tick_bars import advance_key_state, build_key_state, extend_forming_bar
from chainflow.trading.tick_progress import TickProgress
from chainflow.trading.tick_state import (
    FrameSelector,
    KeyState,
    LiveQuote,
    hold_frame,
    regime_fields,
    regime_label,
    same_bar,
)

log = get_logger("chainflow.trading.tick_path")

Key = tuple[str, str]  # tenant, symbol
StrategyFor = Callable[[str, str, str], Awaitable[tuple[ModelStrategy, TradingPreferences]]]


@dataclass(slots=True)
class TickPathStats:
    ticks: int = 0
    frames: int = 0
    scored: int = 0
    warming_up: int = 0
    no_model: int = 0
    rebuilds: int = 0
    bad_messages: int = 0
    coalesced: int = 0  # tick events answered with a later tick's score (under load)


class TickPath:
    """Score every accepted tick and answer its connection; see the module doc."""

    def __init__(
        self,
        *,
        bus: EventBus,
        store: TimeSeriesStore,
        clock: Clock,
        models: ServedModels | None,
        desk: PaperDesk,
        strategy_for: StrategyFor,
        policy: SizingPolicy,
        spread_window: int = 500,
        spread_min_ticks: int = 20,
    ) -> None:
        self._spread_window, self._spread_min_ticks = spread_window, spread_min_ticks
        self._anomaly_z = models.anomaly_z if models is not None else math.inf
        self._desk = desk
        self._frames = FrameSelector()
        self._bus, self._store, self._clock, self._models = bus, store, clock, models
        self._strategy_for = strategy_for
        self._policy = policy
        self._keys: dict[Key, KeyState] = {}
        self._subscription: Subscription | None = None
        self._queue: list[TicksAccepted | BarPublished] = []
        self._quotes: dict[Key, LiveQuote] = {}
        self._wake = asyncio.Event()
        self.progress = TickProgress()
        self._worker: asyncio.Task[None] | None = None
        self.stats = TickPathStats()

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="tick-path")
        self._subscription = await self._bus.subscribe(all_market_events(), self.on_message)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def on_message(self, message: BusMessage) -> None:
        """Queue ticks and bars for the worker (in order); reconcile executions now."""
        kind = market_event_kind(message.subject)
        try:
            if kind == "ticks":
                self._queue.append(TicksAccepted.from_json(message.data))
                self._wake.set()
            elif kind == "bars":
                self._queue.append(BarPublished.from_json(message.data))
                self._wake.set()
            elif kind == "executions":
                execution = ExecutionReported.from_json(message.data)
                self._desk.on_execution(execution.tenant_id, execution.fields)
        except ValueError as exc:
            self.stats.bad_messages += 1
            log.warning("tick_path_bad_message", subject=message.subject, error=str(exc))

    def quote(self, tenant_id: str, symbol: str) -> LiveQuote | None:
        """Return the symbol's latest in-order quote and its spread statistics."""
        return self._quotes.get((tenant_id, symbol))

    def regime_label(self, tenant_id: str, symbol: str) -> str | None:
        """Return ``trend/volatility`` of the symbol's last closed bar (None when unknown)."""
        state = self._keys.get((tenant_id, symbol))
        return regime_label(state.pipeline.regime) if state is not None else None

    def on_bar(self, bar: BarPublished) -> None:
        """Advance the key's closed-bar state (or mark it for a rebuild)."""
        state = self._keys.get((bar.tenant_id, bar.symbol))
        if state is None or bar.timeframe != state.timeframe.value or state.stale:
            return
        last = state.pipeline.last_ts
        values = bar_values(
            bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.spread_mean
        )
        if not bar.revised and last is not None and bar.ts == last:
            if not same_bar(state.committed, values):
                state.stale = True  # this process saw the bar differently: rebuild it
            return
        if bar.revised or (last is not None and bar.ts < last):
            state.stale = True  # rebuilt from the stored bars on the next tick
            return
        advance_key_state(state, values)

    async def _run(self) -> None:
        """Take everything queued, in order; a key's burst of ticks is scored once."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    await self.process(batch)
                except Exception:  # one bad batch must not stop the hot path
                    log.exception("tick_path_batch_failed", events=len(batch))
                await self._finished(batch)

    async def _finished(self, batch: list[TicksAccepted | BarPublished]) -> None:
        bars: dict[Key, tuple[str, int]] = {}
        keys = {(event.tenant_id, event.symbol) for event in batch}
        for key in keys:
            state = self._keys.get(key)
            if state is not None and state.pipeline.last_ts is not None:
                bars[key] = (state.timeframe.value, state.pipeline.last_ts)
        ticks = sum(len(e.ticks) for e in batch if isinstance(e, TicksAccepted))
        untracked = tuple(key for key in keys if key not in self._keys)
        await self.progress.record(bars, ticks, untracked)

    async def process(self, batch: list[TicksAccepted | BarPublished]) -> None:
        """Run a batch: ticks to the paper desk in arrival order, then each key in order.

        A key's consecutive tick events (up to its next bar) are scored once, at the last
        tick: under load the work per key stays one inference per batch, and every tick
        still gets its frame (with the latency it really waited).
        """
        by_key: dict[Key, list[TicksAccepted | BarPublished]] = {}
        for event in batch:
            if isinstance(event, TicksAccepted):
                self.stats.ticks += len(event.ticks)
                self.progress.begin((event.tenant_id, event.symbol))
                quote = self._quotes.get((event.tenant_id, event.symbol))
                if quote is None:
                    quote = LiveQuote(self._spread_window, self._spread_min_ticks)
                    self._quotes[(event.tenant_id, event.symbol)] = quote
                await self._desk.ensure(event.tenant_id)
                for ts, bid, ask, _volume, late, _seq in event.ticks:
                    if not late:  # the paper account fills and marks on in-order ticks
                        quote.update(ts, bid, ask)
                        await self._desk.on_tick(event.tenant_id, event.symbol, ts, bid, ask)
            by_key.setdefault((event.tenant_id, event.symbol), []).append(event)
        for events in by_key.values():
            run: list[TicksAccepted] = []
            for event in events:
                if isinstance(event, BarPublished):
                    await self.on_ticks(run)
                    run = []
                    self.on_bar(event)
                else:
                    run.append(event)
            await self.on_ticks(run)

    async def on_ticks(self, events: list[TicksAccepted]) -> None:
        """Score one key's tick events at their last tick; answer each event's connection."""
        if not events or self._models is None:
            return  # CHAINFLOW_TRADING_TICK_SIGNALS=false: no per-tick answers
        last_event = events[-1]
        model = await self._models.resolve(last_event.tenant_id)
        state = await self._state(events[0], model) if model is not None else None
        if model is None:
            self.stats.no_model += 1
        last = last_event.ticks[-1]
        for event in events:
            for row in event.ticks:
                if not row[4]:
                    last = row
                    if state is not None:
                        extend_forming_bar(state, row[0], row[1], row[2], row[3])
        signal = await self._score(last_event, state, model, bid=last[1], ask=last[2])
        self.stats.coalesced += len(events) - 1
        by_connection: dict[str, list[dict[str, Any]]] = {}
        now_us = self._clock.now_us()
        for event in events:
            latency_ms = round((now_us - event.received_us) / 1000.0, 3)
            for frame in self._frames.frames(event, state, signal):
                frame["latency_ms"] = latency_ms
                by_connection.setdefault(event.connection, []).append(frame)
        for connection, frames in by_connection.items():
            self.stats.frames += len(frames)
            body = b"\n".join(
                orjson.dumps(frame, option=orjson.OPT_SERIALIZE_NUMPY) for frame in frames
            )
            await self._bus.publish(connection_topic(last_event.tenant_id, connection), body)

    async def _state(self, event: TicksAccepted, model: ServedModel) -> KeyState:
        key = (event.tenant_id, event.symbol)
        state = self._keys.get(key)
        if state is not None and state.model_id == model.version.id and not state.stale:
            return state
        fresh = await build_key_state(self._store, event, model)
        self._keys[key] = fresh
        self.progress.track(key, fresh.timeframe.value)
        self.stats.rebuilds += 1
        return fresh

    async def _score(
        self,
        event: TicksAccepted,
        state: KeyState | None,
        model: ServedModel | None,
        *,
        bid: float,
        ask: float,
    ) -> dict[str, Any]:
        """Return the signal of the key now (a ``hold`` with the reason when it cannot)."""
        base: dict[str, Any] = {"type": "signal", "symbol": event.symbol}
        if model is None or state is None:
            name = self._models.model_name if self._models is not None else "fx-default"
            return {**base, **hold_frame(no_model_reason(name), "")}
        if state.forming is None:
            return {**base, **hold_frame("no forming bar yet", model.version.ref)}
        halted = self._desk.halted(event.tenant_id)
        if halted is not None:
            return {**base, **hold_frame(f"circuit breaker tripped: {halted}", model.version.ref)}
        bar = state.forming.values()
        vector = state.pipeline.engine.preview(bar)
        inputs = np.stack([*state.closed, vector]) if model.bundle.window > 1 else vector
        if len(state.closed) + 1 < model.bundle.window or not np.all(np.isfinite(inputs)):
            self.stats.warming_up += 1
            needed = state.pipeline.feature_set.warmup_bars - state.pipeline.engine.count
            reason = f"features warming up ({max(needed, 1)} more closed bars needed)"
            return {**base, **hold_frame(reason, model.version.ref)}
        output = model.bundle.predict(inputs[np.newaxis])
        anomaly_score = model.anomaly_score(state.pipeline.feature_set.names, vector)
        regime = state.pipeline.regime
        p = [float(x) for x in output.probabilities[0]]
        decision_input = DecisionInput(
            symbol=event.symbol,
            ts=bar.ts,
            probabilities=(p[0], p[1], p[2]),
            model=model.version.ref,
            expected_volatility=float(output.volatility[0]),
            momentum=float(output.momentum[0]),
            anomaly=anomaly_score is not None and anomaly_score > self._anomaly_z,
            **regime_fields(regime),
        )
        strategy, preferences = await self._strategy_for(
            event.tenant_id, event.symbol, state.timeframe.value
        )
        decision = strategy.preview(StrategyContext(decision_input))
        sized = self._size(event.tenant_id, decision, state, bar, preferences, bid=bid, ask=ask)
        self.stats.scored += 1
        return {
            **base,
            "action": sized.action,
            "confidence": round(decision.confidence, 6),
            "size": sized.size,
            "stop_loss": sized.stop_loss,
            "take_profit": sized.take_profit,
            "model": decision.model,
            "reasons": [*decision.reasons, *sized.reasons],
        }

    def _size(
        self,
        tenant_id: str,
        decision: Decision,
        state: KeyState,
        bar: BarValues,
        preferences: TradingPreferences,
        *,
        bid: float,
        ask: float,
    ) -> CheckedSignal:
        """Size at the tick's price with the forming bar's ATR, then the risk check."""
        record = StateRecord([state.atr])
        try:
            atr = state.atr.update_bar(bar.high, bar.low, bar.close)
        finally:
            record.restore()
        return size_and_check(
            decision,
            entry=ask if decision.action == "buy" else bid,
            atr=atr if math.isfinite(atr) else None,
            policy=self._policy,
            preferences=preferences,
            account=self._desk.snapshot_of(tenant_id),
            breaker=self._desk.book(tenant_id).breaker,
        )
