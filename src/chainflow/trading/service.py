"""The live trading service: ml predictions in, sized signals out (persisted and published).

It consumes every ``predictions.p<k>.<tenant>.<symbol>.<tf>`` (``PredictionInput``: the
durable consumer ``trading`` in one process, ``trading-p<k>`` of the partitions this
replica holds with replicas) and keeps one ``ModelStrategy`` per (tenant, symbol,
timeframe) (``StrategyStates``). Each prediction is one bar of
that strategy; when the stable action changes (``hold`` included, when a position is left:
DESIGN.md §4 ``on_change``) the decision is sized (``decision.sizing``), stored in
``signals`` and, after the commit, published as ``SignalIssued`` on
``signals.<tenant>.<symbol>``.

What is provisional in this first slice:

- Preferences are the tenant's trading settings (risk tolerance, allowed symbols) from
  ``preferences`` (the users service over the bus; defaults when unwired). A change keeps
  the key's stabilizer state.
- Sizing uses a notional equity (``CHAINFLOW_TRADING_PAPER_EQUITY``) and the default
  ``risk.Instrument`` of the symbol; paper accounts and broker specs come later.
- The strategy states are saved with the tenant's paper book (``PaperStore``): after a
  restart, or on the replica that takes the tenant's partition, each key continues where
  the last save left it. A prediction at or before the key's last bar (a redelivery) is
  ignored; a signal already stored for the prediction's bar (run again after a crash
  that came before the save) is not stored again, and is published again under its
  message id, which the bus stores once.
- **Replicas** (a ``Membership``): the bar-close path follows the tick path's partitions
  (``PartitionFollower``): the replica answering a tenant's ticks also runs its
  predictions and holds its paper book; giving a partition up runs the prediction in
  flight to the end, saves the partition's books and strategies and forgets them before
  the lease is freed.
- A prediction waits (up to ``TICK_ORDER_WAIT_S``) until the tick path has run the tick
  that closed its bar (``trading.tick.progress``): the bar's hysteresis step, sizing on the
  paper equity and paper order then always come after that tick, whatever the timing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, fields, replace

from chainflow.bridge.api import read_bars
from chainflow.core.clock import Clock
from chainflow.core.cpu_share import CpuShares
from chainflow.core.errors import MalformedEventError
from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.market import Timeframe
from chainflow.core.settings import TradingSettings
from chainflow.core.tenancy import TenantContext
from chainflow.hub.api import MESSAGE_ID_HEADER, BusMessage, EventBus, Membership
from chainflow.ml.api import PredictionMade, ServedModelSource
from chainflow.risk.api import PortfolioSnapshot
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.relational import Database
from chainflow.trading.decision.execution_plan import NO_ORDER, ExecutionPlan, plan_execution
from chainflow.trading.decision.inputs import input_from_prediction
from chainflow.trading.decision.risk_check import CheckedSignal, check_sized
from chainflow.trading.decision.sizing import SizingPolicy, size_decision
from chainflow.trading.decision.strategy import ModelStrategy, StrategyContext
from chainflow.trading.decision.synthesis import Action, DecisionInput, TradingPreferences
from chainflow.trading.events import SignalIssued, risk_events_topic, signals_topic
from chainflow.trading.paper.desk import Loader, PaperDesk, PaperSignal, instrument_for
from chainflow.trading.paper.instruments import risk_instrument
from chainflow.trading.paper.store import PaperStore
from chainflow.trading.prediction_input import PredictionInput
from chainflow.trading.preferences import DefaultPreferences, TradingPreferencesSource
from chainflow.trading.repository import SignalRepository, StoredSignal, read_latest_signals
from chainflow.trading.strategy_states import Key, StrategyState, StrategyStates
from chainflow.trading.tick.path import TickPath

log = get_logger("chainflow.trading.service")

TICK_ORDER_WAIT_S = 1.0
"""How long a bar-close decision waits for the tick path to run the tick closing its bar."""
_PREDICTION_FIELDS = frozenset(f.name for f in fields(PredictionMade))


@dataclass(slots=True)
class TradingStats:
    predictions: int = 0
    signals: int = 0
    stale_predictions: int = 0
    rejected_messages: int = 0
    risk_refused: int = 0
    signals_stored_before: int = 0  # a prediction run again after a crash


class NotServed(Exception):
    """The tenant's partition was given up while its prediction was being run."""


def prediction_from_json(data: bytes) -> PredictionMade:
    """Parse a ``PredictionMade`` message; raise ``MalformedEventError`` if not one."""
    try:
        body = json.loads(data)
        return PredictionMade(**{k: v for k, v in body.items() if k in _PREDICTION_FIELDS})
    except (TypeError, json.JSONDecodeError, AttributeError) as exc:
        raise MalformedEventError(f"expected a PredictionMade message; {exc}") from None


class TradingService:
    """Per-process live signal state; see the module doc."""

    def __init__(
        self,
        *,
        bus: EventBus,
        database: Database,
        store: TimeSeriesStore,
        clock: Clock,
        settings: TradingSettings,
        preferences: TradingPreferencesSource | None = None,
        models: ServedModelSource | None = None,
        cpu_shares: CpuShares | None = None,
        membership: Membership | None = None,
    ) -> None:
        self.preferences_source = preferences or DefaultPreferences()
        self._bus = bus
        self._database = database
        self._store = store
        self._clock = clock
        self.settings = settings
        self.policy = SizingPolicy(
            equity=settings.paper_equity,
            risk_per_trade=settings.risk_per_trade,
            stop_atr=settings.stop_atr,
            take_profit_atr=settings.take_profit_atr,
        )
        self.strategies = StrategyStates()
        self._locks: dict[Key, asyncio.Lock] = {}
        self._decided: dict[Key, int] = {}
        self.predictions = PredictionInput(bus=bus, handler=self.on_message, membership=membership)
        self.stats = TradingStats()
        self.paper_store = PaperStore(database, self.strategies)
        self.desk = self._new_desk(self.paper_store.load)
        self._saver: asyncio.Task[None] | None = None
        self.tick_path = TickPath(
            bus=bus,
            store=store,
            clock=clock,
            models=models,
            desk=self.desk,
            strategy_for=self.strategy_for,
            policy=self.policy,
            spread_window=settings.spread_window,
            spread_min_ticks=settings.spread_min_ticks,
            cpu_shares=cpu_shares,
            membership=membership,  # replicas share the tick partitions
            follower=self,  # and the bar-close path follows them
        )

    async def start(self) -> None:
        await self.predictions.start()
        await self.tick_path.start()
        self._saver = asyncio.create_task(
            self.paper_store.run(self.desk, self.settings.paper_save_s), name="paper-saver"
        )

    async def stop(self, *, release: bool = True) -> None:
        """Stop; a clean stop (``release``) hands its partitions over and saves every
        changed book, a crash (in tests) saves nothing more and keeps the leases."""
        if self._saver is not None and not release:
            self._saver.cancel()
        await self.tick_path.stop(release=release)
        await self.predictions.stop()
        if self._saver is not None:
            self._saver.cancel()
            await asyncio.gather(self._saver, return_exceptions=True)
            self._saver = None
        if release:  # a clean stop loses nothing: the strategies' last steps too
            self.desk.mark_dirty(self.strategies.tenants() & set(self.desk.tenants()))
            await self.paper_store.save_changed(self.desk)

    def _new_desk(self, loader: Loader) -> PaperDesk:
        settings = self.settings
        return PaperDesk(
            starting_balance=settings.paper_equity,
            stop_out_level=settings.paper_stop_out_level,
            on_breaker=self._breaker_tripped,
            rollover_hour_utc=settings.rollover_hour_utc,
            loader=loader,
        )

    async def paper_accounts_of(self, tenant_id: str) -> PaperDesk:
        """Return the desk holding the tenant's paper book, loaded: this process's when it
        runs the tenant (one process, or the replica holding its partition), else a copy of
        the owner's last save (made every ``CHAINFLOW_TRADING_PAPER_SAVE_S`` and at each
        signal), so that a read on another replica never opens a book there."""
        if self.predictions.serves(tenant_id):
            await self.desk.ensure(tenant_id)
            return self.desk
        copy = self._new_desk(self.paper_store.read)  # the book alone: no strategy loaded
        await copy.ensure(tenant_id)
        return copy

    async def portfolio(self, tenant_id: str) -> PortfolioSnapshot:
        """Return the tenant's paper account now (``risk.PortfolioSource``)."""
        return await (await self.paper_accounts_of(tenant_id)).portfolio(tenant_id)

    async def taken(self, partition: int) -> None:
        """A tick partition is ours: read its predictions (``PartitionFollower``). What
        this process read of its tenants before (copies) is dropped: their books are
        loaded from the last owner's save on first use."""
        stale = self._tenants_of(partition)
        self.desk.forget(stale)
        self.strategies.forget(stale)
        await self.predictions.taken(partition)

    async def given_up(self, partition: int, held: bool) -> None:
        """A tick partition goes to another replica: run the prediction in flight, save
        the partition's books and strategies (when its lease is still ``held``) and forget
        them here (``PartitionFollower``)."""
        await self.predictions.given_up(partition, held)
        tenants = self._tenants_of(partition)
        saved = await self.paper_store.hand_over(self.desk, tenants, save=held)
        for key in [key for key in (*self._locks, *self._decided) if key[0] in tenants]:
            self._locks.pop(key, None)
            self._decided.pop(key, None)
        log.info("trading_partition_handed_over", partition=partition, saved=saved, held=held)

    def _tenants_of(self, partition: int) -> set[str]:
        """Return the tenants of ``partition`` this process keeps anything of."""
        of = self.predictions.partition_of
        keys = (*self._locks, *self._decided)
        seen = {key[0] for key in keys} | self.strategies.tenants() | set(self.desk.tenants())
        return {tenant for tenant in seen if of(tenant) == partition}

    async def strategy_for(
        self, tenant_id: str, symbol: str, timeframe: str
    ) -> tuple[ModelStrategy, TradingPreferences]:
        """Return the key's strategy (made on first use) and the tenant's preferences."""
        preferences = await self.preferences_source.preferences(tenant_id)
        state = self.strategies.state_for((tenant_id, symbol, timeframe), preferences)
        return state.strategy, preferences

    def action_of(self, tenant_id: str, symbol: str, timeframe: str) -> Action:
        """Return the stable action of a key here (``hold`` when never seen)."""
        state = self.strategies.get((tenant_id, symbol, timeframe))
        return "hold" if state is None else state.action

    def decided_through(self, tenant_id: str, symbol: str, timeframe: str) -> int | None:
        """Return the open time of the last bar whose prediction has been run to the end
        (its signal stored and paper order queued, if any); None before the first."""
        return self._decided.get((tenant_id, symbol, timeframe))

    async def on_message(self, message: BusMessage) -> None:
        try:
            prediction = prediction_from_json(message.data)
        except ValueError as exc:
            self.stats.rejected_messages += 1
            log.warning("trading_bad_prediction", subject=message.subject, error=str(exc))
            await message.term()
            return
        if not self.predictions.routed_to(message.subject, prediction.tenant_id):
            self.stats.rejected_messages += 1
            log.warning(
                "trading_misrouted_prediction",
                subject=message.subject,
                tenant_id=prediction.tenant_id,
            )
            await message.term()
            return
        try:
            await self.on_prediction(prediction)
        except NotServed:
            await message.nak()  # for the partition's next owner

    async def on_prediction(self, prediction: PredictionMade) -> SignalIssued | None:
        """Run one prediction through its key's strategy; return the signal if one is issued."""
        key: Key = (prediction.tenant_id, prediction.symbol, prediction.timeframe)
        async with self._locks.setdefault(key, asyncio.Lock()):
            self._check_served(prediction.tenant_id)
            decided = False
            try:
                signal = await self._decide(prediction, key)
                decided = True
                return signal
            finally:  # issued (stored, paper order queued) or not: this bar is decided
                if decided or self.predictions.serves(prediction.tenant_id):
                    ts = max(self._decided.get(key, prediction.ts), prediction.ts)
                    self._decided[key] = ts

    def _check_served(self, tenant_id: str) -> None:
        if not self.predictions.serves(tenant_id):
            raise NotServed(tenant_id)

    async def _decide(self, prediction: PredictionMade, key: Key) -> SignalIssued | None:
        started = self._clock.monotonic()
        await self.desk.ensure(prediction.tenant_id)
        _, preferences = await self.strategy_for(*key)
        state = self.strategies.state_for(key, preferences)
        if state.last_ts is not None and prediction.ts <= state.last_ts:
            self.stats.stale_predictions += 1
            return None
        await self.tick_path.progress.scored_through(
            prediction.tenant_id,
            prediction.symbol,
            prediction.timeframe,
            prediction.ts,
            timeout_s=TICK_ORDER_WAIT_S,
        )
        self.stats.predictions += 1
        try:
            decision_input = input_from_prediction(prediction)
        except ValueError as exc:
            self.stats.rejected_messages += 1
            log.warning("trading_bad_prediction", symbol=prediction.symbol, error=str(exc))
            return None
        tenant_id = prediction.tenant_id
        async with self.paper_store.gate.step():  # no save sees the bar half run
            self._check_served(tenant_id)  # nothing changed yet: the next owner runs it
            kept = state.saved()
            try:
                return await self._run_bar(prediction, state, preferences, decision_input, started)
            except BaseException:
                state.put_back(kept)  # the redelivered prediction is run from the same state
                raise

    async def _run_bar(
        self,
        prediction: PredictionMade,
        state: StrategyState,
        preferences: TradingPreferences,
        decision_input: DecisionInput,
        started: float,
    ) -> SignalIssued | None:
        """Step the key's strategy on the predicted bar, then size, check, store, publish
        and queue the paper order of a changed action."""
        tenant_id = prediction.tenant_id
        held = self.desk.intended_lots(tenant_id, prediction.symbol)
        decision = state.strategy.on_bar(StrategyContext(decision_input, held))
        state.last_ts = prediction.ts
        if decision.action == state.action:
            return None
        state.action = decision.action  # a refused entry is explained once, not every bar
        entry = prediction.close
        if entry is None and decision.action != "hold":
            entry = await self._entry_price(prediction)
        instrument = risk_instrument(prediction.symbol, entry)
        self.desk.set_limits(
            tenant_id, preferences.max_daily_loss_pct, preferences.max_drawdown_pct
        )
        policy = self.policy.capped(preferences.max_risk_per_trade_pct)
        policy = replace(policy, equity=self.desk.equity(tenant_id))
        sized = size_decision(
            decision,
            entry=entry,
            expected_volatility=prediction.expected_volatility,
            policy=policy,
            instrument=instrument,
            atr=prediction.atr,
        )
        portfolio = await self.desk.portfolio(tenant_id)
        checked = check_sized(
            decision,
            sized,
            entry=entry,
            instrument=instrument,
            account=portfolio,
            preferences=preferences,
            breaker=self.desk.book(tenant_id).breaker,
        )
        checked, plan = self._planned(tenant_id, checked, ts=prediction.ts)
        if checked.action == "hold" and state.issued == "hold":
            return None  # refused or avoided while flat: nothing new to tell
        state.issued = checked.action  # type: ignore[assignment]
        latency_ms = prediction.latency_ms + (self._clock.monotonic() - started) * 1000.0
        signal = SignalIssued(
            symbol=prediction.symbol,
            ts=prediction.ts,
            action=checked.action,
            confidence=round(decision.confidence, 6),
            size=checked.size,
            stop_loss=checked.stop_loss,
            take_profit=checked.take_profit,
            model=decision.model,
            latency_ms=round(latency_ms, 3),
            reasons=[*decision.reasons, *sized.reasons, *checked.reasons, *plan.reasons],
        )
        await self._issue(tenant_id, prediction.timeframe, signal)
        self.desk.on_signal(
            tenant_id,
            PaperSignal(
                symbol=signal.symbol,
                ts=signal.ts,
                action=signal.action,
                size=signal.size,
                stop_loss=signal.stop_loss,
                take_profit=signal.take_profit,
                model=signal.model,
                reasons=decision.reasons,
                regime=self._regime_of(tenant_id, signal.symbol),
                limit_price=plan.limit_price,
            ),
        )
        self.paper_store.save_soon()
        self.stats.signals += 1
        self.stats.risk_refused += int(checked.action != decision.action)
        return signal

    def _planned(
        self, tenant_id: str, checked: CheckedSignal, *, ts: int
    ) -> tuple[CheckedSignal, ExecutionPlan]:
        """Plan the entry on the live quote; an avoided entry becomes ``hold`` (why)."""
        if checked.action == "hold":
            return checked, NO_ORDER
        quote = self.tick_path.quote(tenant_id, checked.symbol)
        if quote is None:
            return checked, NO_ORDER  # no live quote here (bars only): a market order
        plan = plan_execution(
            checked.action,
            bid=quote.bid,
            ask=quote.ask,
            ts=max(ts, quote.ts),
            spread_median=quote.spreads.median,
            instrument=instrument_for(checked.symbol),
            settings=self.settings,
        )
        if plan.avoid is not None:
            return replace(checked, action="hold", size=0.0, stop_loss=None, take_profit=None), plan
        return checked, plan

    def _regime_of(self, tenant_id: str, symbol: str) -> str | None:
        return self.tick_path.regime_label(tenant_id, symbol)

    async def _breaker_tripped(self, tenant_id: str, reason: str) -> None:
        """Tell the tenant (``trading.risk.<tenant>``) that its signals are halted."""
        body = {
            "type": "circuit_breaker",
            "tenant_id": tenant_id,
            "reason": reason,
            "ts": self._clock.now_ms(),
        }
        log.warning("trading_circuit_breaker", tenant_id=tenant_id, reason=reason)
        await self._bus.publish(risk_events_topic(tenant_id), json.dumps(body).encode())

    async def recent_signals(
        self, tenant: TenantContext, *, symbol: str | None, limit: int
    ) -> list[SignalIssued]:
        """Return the tenant's newest stored signals, newest first."""
        stored = await self.recent_stored_signals(tenant, symbol=symbol, limit=limit)
        return [
            SignalIssued(
                symbol=r.symbol,
                ts=r.ts,
                action=r.action,
                confidence=r.confidence,
                size=r.size,
                stop_loss=r.stop_loss,
                take_profit=r.take_profit,
                model=r.model,
                reasons=list(r.reasons),
            )
            for r in stored
        ]

    async def recent_stored_signals(
        self, tenant: TenantContext, *, symbol: str | None, limit: int
    ) -> list[StoredSignal]:
        """Return the tenant's newest stored signals as read, newest first (the listing
        turns each into its frame once: ``signal_listing``)."""
        async with self._database.lean_read(tenant) as read:
            return await read_latest_signals(read, symbol=symbol, limit=limit)

    async def _entry_price(self, prediction: PredictionMade) -> float | None:
        """Return the close of the predicted bar from the stored bars, if stored."""
        bars = await read_bars(
            self._store,
            TenantId(prediction.tenant_id),
            prediction.symbol,
            Timeframe(prediction.timeframe),
            end_ms=prediction.ts + 1,
            count=1,
        )
        return bars[-1].close if bars and bars[-1].ts == prediction.ts else None

    async def _issue(self, tenant_id: str, timeframe: str, signal: SignalIssued) -> None:
        """Store the signal (unless its bar's signal is stored already: the prediction run
        again after a crash) and publish it after the commit, under a message id that the
        bus stores once."""
        tenant = TenantContext(tenant_id=TenantId(tenant_id))
        body = signal.to_json()
        subject = signals_topic(tenant_id, signal.symbol)
        headers = {MESSAGE_ID_HEADER: f"signal/{tenant_id}/{signal.symbol}/{timeframe}/{signal.ts}"}
        async with self._database.unit_of_work(tenant) as uow:
            signals = SignalRepository(uow.session, tenant)
            if await signals.stored_for(signal.symbol, timeframe, signal.ts):
                self.stats.signals_stored_before += 1
            else:
                await signals.record(signal, timeframe)
            uow.after_commit(lambda: self._bus.publish(subject, body, headers=headers))
