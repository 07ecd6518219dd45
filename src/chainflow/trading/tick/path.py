"""The per-tick hot path: every accepted tick comes back as a signal on its own connection.

DESIGN.md §4: a tick accepted on ``WS /ws/ticks`` runs streaming features on the forming
bar → model inference → decision → sizing, and a ``signal`` frame carrying the tick's
``seq`` and ``latency_ms`` (from the frame's receipt by the bridge) goes back on that
connection. The bridge publishes accepted ticks while it stores them (a signal does not
wait for the disk; the ack does). In one process ``TickPath`` subscribes to ``bridge.>``
once (replicas: below):

- **Ticks** extend the key's forming bar (late ticks are stored but do not move it). The
  first tick of a new bar commits the forming bar as closed — the key's ``SymbolPipeline``
  (features and regimes), ATR and window of closed vectors advance — so that tick is
  scored on the bar just closed without waiting for the bridge's bar.
- **Bars** of the model's timeframe confirm what was committed: the bridge's bar equal to
  it changes nothing, one this process did not see advances the state, and one it saw
  differently replaces it in place when it was committed from a *partial* forming bar
  (begun mid-bar: the key's first bar after its state was built or after a gap); any
  other difference, a revised older bar or a model change rebuilds the key from the
  stored bars on its next tick.
- **Scoring.** The forming bar is scored with ``FeatureEngine.preview`` (the committed
  state is put back), the tenant's production model (ONNX) and ``ModelStrategy.preview``
  of the trading service's strategy of the key (one hysteresis with the bar-close
  signals); the decision is sized at the tick's ask (buy) or bid (sell) with the forming
  bar's ATR on the paper account's equity and risk-checked (``decision.risk_check``).
- **New keys start warm.** A key without state (new tenant or symbol, a model change)
  is answered at once with a ``hold`` whose reason starts with ``warming`` while
  ``KeyWarmup`` builds its state from the stored bars in a task; a stale key (a revised
  bar) keeps answering from its state while the new one is built.
- **Fair share.** Ticks and bars wait in one FIFO per tenant (``FairTickQueue``), taken in
  deficit-round-robin rounds of at most ``quantum`` ticks per tenant, with the event loop
  given back between rounds: a tenant replaying history at full speed gets its share per
  round and a live tenant's tick waits for at most one round.
- **One round per turn, one model call per round.** The input is taken in the
  publisher's turn (``hub.api.subscribe_in_turn``) and queued; the worker runs the events
  published in one turn of the event loop as one round in the next. A round scores its
  keys stage by stage: every key's forming bar previewed, then one model call for all the
  keys of a model (``scoring.predict_all``: the tenants' copies of a model share one ONNX
  session), then each key's decision and frames (``answers.RoundAnswers``). A call costs
  about as much for one row as for dozens, and on a busy loop most of it is the cold
  start of ONNX Runtime (measured 9 us warm, 84 us with the caches cold), so the model's
  cost per tick falls as load rises.
  Before, an idle path ran each event at once, in the publisher's turn: one model call per
  tick, and every frame read in a turn waited for the scoring of the frames read before
  it. One round runs at a time (``_turn``), so a key's events keep their order.
- **Ticks first.** While ticks are queued the loop's ``HotPathGate`` is held: bar-close
  work (the bus's durable consumers) and state builds wait for the queue to drain (at
  most ``max_wait_s`` each), so a bar close of every key at once does not queue ahead of
  the next tick (``core.hot_path``).
- **Frames.** ``every_tick`` connections get one frame per tick (``hold`` included, with
  the reason while features warm up, no model serves or the breaker halts); ``on_change``
  connections get a frame when the action differs from the last one sent or a new bar
  opened. Under load, a key's queued tick events are scored once, at the last tick.
- **Order with the bar-close path**: ``progress`` (``trading.tick.progress``).

After a restart or a build the forming bar starts at the first tick seen; the bridge's
bar of that time replaces it when it closes (``bars.redo_last_bar``), without a rebuild.

**Replicas** (a ``Membership``: ``trading.tick.partitions``) share the tenant partitions of
the ticks and bars; each subscribes live to the partitions it owns and answers a tick only
while it holds the lease of its partition. A partition taken is answered from its next
tick, its keys warming from the stored bars as new keys do; one given up is answered up to
its last queued tick and then forgotten; the ``follower`` (the trading service's bar-close
path) takes and gives up the same partitions, after the ticks' drain and before the lease
is freed. Across a join or a clean stop no tick goes
unanswered: the taker subscribes before the giver unsubscribes (a stand-by, holding the
ticks until its lease comes, its keys warming meanwhile) and then answers what it held in
arrival order, so a tick both saw is answered twice, first by the giver, and the bridge
forwards it once (its ``seq`` is not newer). Answered by none: when a replica dies, the
ticks it had queued plus those published until its lease expires and a survivor takes the
partition (``Membership.takeover_bound_s``), less those a survivor stood by for; the ticks
of a handover whose taker did not stand by within ``Membership.handover_wait_s``. A replica
whose lease renewal fails drops its queued ticks of the partition unanswered. The one case
that can answer without the lease: a replica whose event loop stalls for longer than the
lease TTL, then answers ticks queued before the stall before its next round fences it (the
bridge still forwards a ``seq`` once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from chainflow.bridge.api import (
    BarPublished,
    ExecutionReported,
    SymbolsDeclared,
    TicksAccepted,
    market_event_kind,
)
from chainflow.core import hot_path
from chainflow.core.background import BackgroundTasks
from chainflow.core.clock import Clock
from chainflow.core.cpu_share import CpuShares
from chainflow.core.hot_path import HotPathGate
from chainflow.core.logging import get_logger
from chainflow.core.market import bar_row
from chainflow.hub.api import BusMessage, EventBus, Membership
from chainflow.ml.api import ServedModel, ServedModelSource
from chainflow.storage.api import TimeSeriesStore
from chainflow.trading.decision.sizing import SizingPolicy
from chainflow.trading.paper.desk import PaperDesk
from chainflow.trading.tick.answers import KeyTicks, RoundAnswers
from chainflow.trading.tick.bars import apply_published_bar, extend_forming_bar
from chainflow.trading.tick.partitions import PartitionFollower, TickInput
from chainflow.trading.tick.progress import TickProgress
from chainflow.trading.tick.queue import (
    DEFAULT_QUANTUM,
    FairTickQueue,
    MarketEvent,
)
from chainflow.trading.tick.scoring import StrategyFor, TickScorer
from chainflow.trading.tick.signal import TickSignal
from chainflow.trading.tick.state import (
    KeyState,
    LiveQuote,
    TickPathStats,
    regime_label,
)
from chainflow.trading.tick.tenant_reads import TenantReads
from chainflow.trading.tick.warmup import STALE_DELAY_S, KeyWarmup

log = get_logger("chainflow.trading.tick_path")

Key = tuple[str, str]  # tenant, symbol
NO_TENANTS: frozenset[str] = frozenset()


class TickPath:
    """Score every accepted tick and answer its connection; see the module doc."""

    def __init__(
        self,
        *,
        bus: EventBus,
        store: TimeSeriesStore,
        clock: Clock,
        models: ServedModelSource | None,
        desk: PaperDesk,
        strategy_for: StrategyFor,
        policy: SizingPolicy,
        spread_window: int = 500,
        spread_min_ticks: int = 20,
        quantum: int = DEFAULT_QUANTUM,
        cpu_shares: CpuShares | None = None,
        membership: Membership | None = None,
        follower: PartitionFollower | None = None,
    ) -> None:
        self._follower = follower
        self._spread_window, self._spread_min_ticks = spread_window, spread_min_ticks
        self.stats = TickPathStats()
        self._scorer = TickScorer(
            models=models, desk=desk, strategy_for=strategy_for, policy=policy, stats=self.stats
        )
        self._desk = desk
        self._bus, self._store, self._clock, self._models = bus, store, clock, models
        self._keys: dict[Key, KeyState] = {}
        self.input = TickInput(
            bus=bus,
            handler=self.on_message,
            membership=membership,
            forget=self._forget_partition,
            on_given_up=self._give_up,
            on_taken=None if follower is None else follower.taken,
            on_standby_tick=self._warm_standby,
        )
        self._answers = RoundAnswers(
            bus=bus,
            clock=clock,
            scorer=self._scorer,
            stats=self.stats,
            input_=self.input,
            cpu_shares=cpu_shares,
        )
        self.latency = self._answers.latency  # of every signal frame sent
        self._running = NO_TENANTS  # the tenants of the batch being run (replicas)
        self._queue = FairTickQueue(quantum)
        self._cpu_shares = cpu_shares
        self._warmup = KeyWarmup(store, self._install)
        self._quotes: dict[Key, LiveQuote] = {}
        self._wake = asyncio.Event()
        self.progress = TickProgress()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False
        self._gate = HotPathGate()  # the loop's own gate from start()
        self._reads = TenantReads(desk, models)  # of tenants new to this process
        self._turn = asyncio.Lock()  # one round at a time
        self._prewarms = BackgroundTasks(  # from terminals' hellos
            "chainflow.trading.tick_path", "tick_path_prewarm_failed"
        )

    async def start(self) -> None:
        self._gate = hot_path.gate()
        self._stopping = False
        self._worker = asyncio.create_task(self._run(), name="tick-path")
        await self.input.start()

    async def stop(self, *, release: bool = True) -> None:
        """Stop; a clean stop (``release``) answers the queued ticks of the partitions it
        hands over first, a crash (in tests) answers nothing more and keeps the leases."""
        if not release:
            await self._stop_worker()
        await self.input.stop(release=release)
        await self._stop_worker()
        await self._prewarms.stop()
        await self._warmup.stop()
        await self._reads.stop()

    async def _stop_worker(self) -> None:
        if self._worker is not None:
            self._stopping = True
            self._wake.set()
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    def _forget_partition(self, partition: int) -> None:
        """Forget what this replica kept of the keys of ``partition``, and its queued ticks."""
        input_ = self.input
        keys = {*self._keys, *self._quotes, *self.progress.keys(), *self._warmup.building()}
        for key in keys:
            if input_.partition_of(key[0]) == partition:
                self._keys.pop(key, None)
                self._quotes.pop(key, None)
                self.progress.forget(key)
                self._warmup.cancel(key)
        tenants = {t for t in self._queue.tenants() if input_.partition_of(t) == partition}
        self.stats.dropped_events += self._queue.drop_tenants(tenants)

    async def _give_up(self, partition: int, held: bool) -> None:
        """Answer the queued ticks of ``partition`` while its lease is ours, then forget it."""
        if held and self._worker is not None:
            of = self.input.partition_of

            def answered() -> bool:
                queued = self._queue.tenants()
                return not any(of(t) == partition for t in (*queued, *self._running))

            await self.progress.wait_for(answered, timeout_s=self.input.drain_s)
        try:
            if self._follower is not None:  # the bar-close path of the partition's tenants
                await self._follower.given_up(partition, held)
        finally:
            self._forget_partition(partition)

    async def _warm_standby(self, tenant_id: str, symbol: str, first_ts: int) -> None:
        """A key of a partition this replica is about to take: build its state now, so
        that its ticks are scored, not answered ``warming``, once the lease is ours."""
        await self.prewarm(tenant_id, (symbol,), first_ts)

    async def on_message(self, message: BusMessage) -> None:
        """Run ticks and bars now when nothing is queued, else queue them for the worker
        (in order); reconcile executions now."""
        kind = market_event_kind(message.subject)
        try:  # one process, or the ticks and bars of this replica's partitions
            if kind == "ticks":
                await self._take(TicksAccepted.from_json(message.data))
            elif kind == "bars":
                await self._take(BarPublished.from_json(message.data))
            elif kind == "executions":
                execution = ExecutionReported.from_json(message.data)
                if not self.input.answers(execution.tenant_id):
                    return  # another replica holds this tenant's paper book
                self._desk.on_execution(execution.tenant_id, execution.fields)
            elif kind == "hello":
                declared = SymbolsDeclared.from_json(message.data)
                if not self.input.answers(declared.tenant_id):
                    return  # another replica's tenant
                # In a task: the model read must not hold up the publisher.
                prewarm = self.prewarm(declared.tenant_id, declared.symbols, declared.ts)
                self._prewarms.start(prewarm, name="tick-prewarm")
        except ValueError as exc:
            self.stats.bad_messages += 1
            log.warning("tick_path_bad_message", subject=message.subject, error=str(exc))

    async def _take(self, event: MarketEvent) -> None:
        """Queue ``event`` behind the others (fair share, ticks first) and wake the worker:
        the events published in this turn of the event loop are run as one batch in the
        next, their keys scored with one model call."""
        self._queue.put(event)
        self._gate.enter()
        self._wake.set()

    async def _run_batch(self, batch: list[MarketEvent]) -> None:
        """Run one round of the queue, then record it; the caller holds ``_turn``."""
        if self.input.answering is not None:  # what a handover waits for
            self._running = frozenset(event.tenant_id for event in batch)
        try:
            await self.process(batch)
        except Exception:  # one bad batch must not stop the hot path
            log.exception("tick_path_batch_failed", events=len(batch))
        self._running = NO_TENANTS
        await self._finished(batch)

    @property
    def building(self) -> int:
        """Keys whose state is being built in the background."""
        return len(self._warmup.building())

    def quote(self, tenant_id: str, symbol: str) -> LiveQuote | None:
        """Return the symbol's latest in-order quote and its spread statistics."""
        return self._quotes.get((tenant_id, symbol))

    def regime_label(self, tenant_id: str, symbol: str) -> str | None:
        """Return ``trend/volatility`` of the symbol's last closed bar (None when unknown)."""
        state = self._keys.get((tenant_id, symbol))
        return regime_label(state.pipeline.regime) if state is not None else None

    async def prewarm(self, tenant_id: str, symbols: Sequence[str], first_ts: int) -> None:
        """Start building the states of ``symbols`` (a terminal's ``hello`` named them)
        from the bars stored before ``first_ts``; their first ticks then find them ready."""
        if self._models is None:
            return
        self._reads.preload(tenant_id)
        model = await self._models.resolve(tenant_id)
        if model is None:
            return
        for symbol in symbols:
            key = (tenant_id, symbol)
            if self._keys.get(key) is None:
                self._warmup.start(key, first_ts, model)

    async def warm(self, tenant_id: str, symbols: Sequence[str], first_ts: int) -> None:
        """Build the states of ``symbols`` now (before their first tick at ``first_ts``)."""
        await self.prewarm(tenant_id, symbols, first_ts)
        for symbol in symbols:
            await self._warmup.wait((tenant_id, symbol))

    def _install(self, key: Key, state: KeyState, held: list[BarPublished]) -> None:
        """Put a state built in the background in service, with the bars held meanwhile."""
        self._keys[key] = state
        self.progress.track(key, state.timeframe.value)
        self.stats.rebuilds += 1
        for bar in held:
            self.on_bar(bar)

    def on_bar(self, bar: BarPublished) -> None:
        """Advance the key's closed-bar state (or mark it for a rebuild)."""
        if self._warmup.hold_bar(bar):
            return  # applied to the state being built once it is installed
        state = self._keys.get((bar.tenant_id, bar.symbol))
        if state is None or bar.timeframe != state.timeframe.value or state.stale:
            return
        values = bar_row(
            bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.spread_mean
        )
        apply_published_bar(state, values, revised=bar.revised)

    async def _run(self) -> None:
        """Take the queue round by round; a key's burst of ticks is scored once a round.

        Ends at ``stop`` even if a library awaited in a batch swallowed the cancellation
        (seen under load: the task then went back to waiting for a wake-up that never came).
        """
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and not self._stopping:
                async with self._turn:
                    batch = self._queue.take_round()
                    if batch:
                        await self._run_batch(batch)
                await asyncio.sleep(0)  # frames of other connections in between rounds
            self._gate.leave()  # drained: background work (bar closes) may run

    async def _finished(self, batch: list[MarketEvent]) -> None:
        bars: dict[Key, tuple[str, int]] = {}
        keys = {(event.tenant_id, event.symbol) for event in batch}
        for key in keys:
            state = self._keys.get(key)
            if state is not None and state.pipeline.last_ts is not None:
                bars[key] = (state.timeframe.value, state.pipeline.last_ts)
        ticks = sum(len(e.ticks) for e in batch if isinstance(e, TicksAccepted))
        untracked = tuple(key for key in keys if key not in self._keys)
        await self.progress.record(bars, ticks, untracked)

    async def process(self, batch: list[MarketEvent]) -> None:
        """Run a batch: ticks to the paper desk in arrival order, then each key in order.

        A key's consecutive tick events (up to its next bar) are scored once, at the last
        tick: under load the work per key stays one inference per batch, and every tick
        still gets its frame (with the latency it really waited). The tenants new to this
        process (their paper book or model still to be read) run last, each once its
        reads are done: they delay their own ticks only, not the other tenants' of the
        batch.
        """
        if self.input.answering is not None:  # replicas: partitions given up meanwhile
            batch = [event for event in batch if self.input.answers(event.tenant_id)]
        await self._reads.run(batch, self._process)

    async def _process(self, batch: list[MarketEvent]) -> None:
        by_key: dict[Key, list[MarketEvent]] = {}
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
        # Keys without a state are answered at once (``warming``): they go first, so that
        # a new key's first tick does not wait for every other key's scoring.
        keys = self._keys
        scoring: list[KeyTicks] = []
        for (tenant_id, _), events in sorted(by_key.items(), key=lambda item: item[0] in keys):
            began = time.perf_counter()
            prepared = await self._run_key(events)
            if prepared is not None:
                scoring.append(prepared)
            if self._cpu_shares is not None:
                self._cpu_shares.charge(tenant_id, time.perf_counter() - began)
        await self._answers.score(scoring)

    async def _run_key(self, events: list[MarketEvent]) -> KeyTicks | None:
        """Run one key's events in order: its tick runs scored, its bars applied. The last
        run is returned prepared, for the batch's one model call (``_score``)."""
        run: list[TicksAccepted] = []
        for event in events:
            if isinstance(event, BarPublished):
                await self.on_ticks(run)
                run = []
                self.on_bar(event)
            else:
                run.append(event)
        return await self._prepare(run)

    async def on_ticks(self, events: list[TicksAccepted]) -> None:
        """Score one key's tick events at their last tick; answer each event's connection."""
        prepared = await self._prepare(events)
        if prepared is not None:
            await self._answers.score([prepared])

    async def _prepare(self, events: list[TicksAccepted]) -> KeyTicks | None:
        """Extend the key's forming bar with ``events`` and prepare its model input at the
        last tick; a key that cannot be scored (warming, no model, ...) is answered now."""
        if not events or self._models is None:
            return None  # CHAINFLOW_TRADING_TICK_SIGNALS=false: no per-tick answers
        last_event = events[-1]
        model = await self._models.resolve(last_event.tenant_id)
        state = self._state(events[0], model) if model is not None else None
        if model is None:
            self.stats.no_model += 1
        key = (last_event.tenant_id, last_event.symbol)
        last = last_event.ticks[-1]
        for event in events:
            for row in event.ticks:
                if not row.late:
                    last = row
                    if state is not None:
                        extend_forming_bar(state, row.ts, row.bid, row.ask, row.volume)
                    else:
                        self._warmup.note_tick(key, row.ts)
        self.stats.coalesced += len(events) - 1
        scored = self._scorer.prepare(last_event, state, model, bid=last.bid, ask=last.ask)
        if isinstance(scored, TickSignal):
            await self._answers.answer(events, state, scored)
            return None
        return KeyTicks(events, scored)

    def _state(self, event: TicksAccepted, model: ServedModel) -> KeyState | None:
        """Return the key's state for ``model``; None while it is being built.

        A missing state, or one of another model, is built in the background (the key's
        ticks are answered ``warming`` meanwhile); a stale one answers until its
        replacement is installed.
        """
        key = (event.tenant_id, event.symbol)
        state = self._keys.get(key)
        if state is not None and state.model_id == model.version.id and not state.stale:
            return state
        if state is not None and state.model_id == model.version.id:
            self._warmup.start(key, event.ticks[0].ts, model, delay_s=STALE_DELAY_S)
            return state
        self._warmup.start(key, event.ticks[0].ts, model)
        self._keys.pop(key, None)  # another model's state: never scored with this one
        return None
