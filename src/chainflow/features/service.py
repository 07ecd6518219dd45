"""The features service: live feature vectors and regimes from the bars the bridge publishes.

It consumes the bars (``bar_input``, a ``hub.api.KeyedInput``: all of them in one process,
this replica's share of the tenant partitions with several; bars published while none runs
are delivered when one starts) and keeps one ``SymbolPipeline`` per (tenant, symbol,
timeframe). For each closed bar it stores the vector in the feature set's table, publishes
``FeaturesComputed`` and, when a regime changed, ``RegimeChanged``.

State is never the only copy of anything: a pipeline is a function of the stored bars. A
new version of the last bar (revised by a late tick, or redelivered) is applied to the
state kept from before that bar. On the first bar of a key after a (re)start, a partition
move, or an older bar that changed, the pipeline is rebuilt by replaying the stored bars
before it (``replay_bars``, at least what the feature set and regime detector need for an
exact rebuild). For a revised bar the bars after it are replayed too, and their vectors are
stored and published again with ``revised=True``. A bar's first vector carries a message id,
so the bar processed again after a crash redelivery is not published twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from chainflow.bridge.api import (
    AggregatedBar,
    BarPublished,
    SymbolsDeclared,
    all_bars,
    all_symbols_declared,
    bars_of_partition,
    read_bars,
    read_latest_bar_columns,
)
from chainflow.core.background import BackgroundTasks
from chainflow.core.clock import Clock
from chainflow.core.cpu_share import CpuShares
from chainflow.core.ids import TenantId
from chainflow.core.logging import get_logger
from chainflow.core.market import BarRow, Timeframe, bar_row
from chainflow.core.settings import FeaturesSettings
from chainflow.features.cross_asset_feed import CrossAssetFeed, StoredCloses
from chainflow.features.deferred_rebuilds import DeferredRebuilds
from chainflow.features.events import (
    FeaturesComputed,
    RegimeChanged,
    features_topic,
    finite_or_none,
    first_publication,
    regime_topic,
)
from chainflow.features.feature_table import feature_table, vector_row
from chainflow.features.mixture_em import compile_kernels
from chainflow.features.pipeline import Checkpoint, PipelineOutput, SymbolPipeline
from chainflow.features.regimes import RegimeConfig
from chainflow.features.replay import bar_of, replayed, stored_bar_columns
from chainflow.features.sets import FeatureSet, get_feature_set
from chainflow.hub.api import BusMessage, EventBus, KeyedInput, Membership, Subscription
from chainflow.storage.api import TimeSeriesStore

log = get_logger("chainflow.features.service")
DURABLE_NAME = "features"  # one process; replicas read features-p<k> (bridge.bars.p<k>)

LATEST = 2**62  # an end_ms after every stored bar
Key = tuple[str, str, Timeframe]  # (tenant, symbol, timeframe)


@dataclass(slots=True)
class FeaturesStats:
    bars: int = 0
    vectors: int = 0
    rebuilds: int = 0
    deferred_revisions: int = 0  # older bars revised, rebuilt together a moment later
    redone_bars: int = 0
    replayed_bars: int = 0
    regime_changes: int = 0
    correlation_updates: int = 0
    correlation_failures: int = 0
    rejected_messages: int = 0
    rejected_bars: int = 0
    per_timeframe: dict[str, int] = field(default_factory=dict)


class FeaturesService:
    """Per-process live feature state; see the module doc for the rules."""

    def __init__(
        self,
        *,
        bus: EventBus,
        store: TimeSeriesStore,
        clock: Clock,
        settings: FeaturesSettings,
        regime_config: RegimeConfig | None = None,
        membership: Membership | None = None,
        cpu_shares: CpuShares | None = None,
    ) -> None:
        self._bus = bus
        self._cpu_shares = cpu_shares  # a bar's work counts against its tenant's CPU share
        self._store = store
        self._clock = clock
        self.settings = settings
        self.feature_set: FeatureSet = get_feature_set(settings.feature_set)
        self._timeframes = frozenset(Timeframe(tf) for tf in settings.timeframes)
        self._regime_config = regime_config or RegimeConfig()
        self._table = feature_table(self.feature_set)
        self._pipelines: dict[Key, SymbolPipeline] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self._undo: dict[Key, Checkpoint] = {}  # each pipeline's state before its last bar
        self._cross = CrossAssetFeed(bus=bus, store=store, settings=settings)
        # every bar in one process, this replica's share of the tenant partitions with replicas
        self.bar_input = KeyedInput(
            bus=bus,
            handler=self.on_message,
            service="features",
            durable=DURABLE_NAME,
            every=all_bars(),
            subject=bars_of_partition,
            membership=membership,
            on_partition=self._forget,
        )
        self.stats = FeaturesStats()
        self._deferred: DeferredRebuilds[Key] = DeferredRebuilds(self._rebuild_since)
        self._hellos: Subscription | None = None
        self._warming = BackgroundTasks("chainflow.features.service", "features_warm_failed")
        self._bars_needed: dict[Timeframe, int] = {}

    async def start(self) -> None:
        # the regime refits' compiled kernels, before any tick waits behind their compilation
        await asyncio.to_thread(compile_kernels)
        await self._store.ensure_table(self._table)
        await self.bar_input.start()
        self._hellos = await self._bus.subscribe(all_symbols_declared(), self.on_hello)

    async def on_hello(self, message: BusMessage) -> None:
        """A terminal named its symbols: build their pipelines now, in the background."""
        try:
            declared = SymbolsDeclared.from_json(message.data)
        except ValueError as exc:
            self.stats.rejected_messages += 1
            log.warning("features_bad_hello_message", error=str(exc))
            return
        if not self.bar_input.owns_tenant(declared.tenant_id):
            return  # another replica consumes this tenant's bars
        self._warming.start(self.warm(declared.tenant_id, declared.symbols), name="features-warm")

    async def warm(self, tenant_id: str, symbols: Sequence[str]) -> int:
        """Build the pipelines of ``symbols`` in every timeframe from their stored bars,
        before their first bar arrives; return how many were built.

        Each replays the stored bars (one replay at a time in the process) and keeps the
        state from before the last one, so that the bridge closing that bar again (it
        continues the stored bars) is a cheap redo, not a rebuild.
        """
        built = 0
        closes: dict[Timeframe, dict[str, StoredCloses]] = {}
        for symbol in symbols:
            for timeframe in sorted(self._timeframes, key=lambda tf: tf.milliseconds):
                key: Key = (tenant_id, symbol, timeframe)
                async with self._locks.setdefault(key, asyncio.Lock()):
                    if key in self._pipelines:
                        continue
                    history = await self._stored_history(key, end_ms=LATEST)
                    closes.setdefault(timeframe, {})[symbol] = self._cross.recent_closes(
                        history[:, 0], history[:, 4]
                    )
                    built += await self._warm_key(key, history)
        for timeframe, by_symbol in closes.items():
            await self._cross.warm(tenant_id, timeframe, by_symbol)
        return built

    async def _stored_history(self, key: Key, *, end_ms: int) -> np.ndarray:
        """The stored bars a pipeline of ``key`` replays, opened before ``end_ms``."""
        tenant, symbol, timeframe = key
        count = max(self.settings.replay_bars, self._replay_bars_needed(timeframe))
        stored = await read_latest_bar_columns(
            self._store, TenantId(tenant), symbol, timeframe, end_ms=end_ms, count=count
        )
        return stored_bar_columns(stored)

    async def _warm_key(self, key: Key, history: np.ndarray) -> int:
        timeframe = key[2]
        if not len(history):
            # Nothing stored yet: the key's bars start here, each one applied as it comes
            # (the first is not a rebuild, which would read the stores for nothing).
            self._pipelines[key] = SymbolPipeline(self.feature_set, timeframe, self._regime_config)
            return 0
        replay = await replayed(self.feature_set, timeframe, self._regime_config, history[:-1])
        pipeline = replay.pipeline
        undo = pipeline.checkpoint()
        self.stats.rejected_bars += replay.refused
        try:
            pipeline.update(bar_of(history[-1]))
        except ValueError:
            self.stats.rejected_bars += 1
            return 0
        self._pipelines[key] = pipeline
        self._undo[key] = undo
        self.stats.rebuilds += 1
        self.stats.replayed_bars += len(history)
        return 1

    async def _forget(self, partition: int) -> None:
        """Drop what this process kept of the tenants of bar ``partition``: it was taken
        over by another replica, or is taken from one (state kept from an earlier turn is
        stale); their keys are rebuilt from the stores on their next bar here."""
        in_partition = self.bar_input.partition_of
        for key in [k for k in self._pipelines if in_partition(k[0]) == partition]:
            async with self._locks.setdefault(key, asyncio.Lock()):
                self._pipelines.pop(key, None)
                self._undo.pop(key, None)
        self._cross.forget(lambda tenant: in_partition(tenant) == partition)

    async def history_changed(self, tenant_id: str, symbol: str) -> None:
        """Bars of ``symbol`` were stored outside the live path (an import): forget its
        pipelines and the tenant's correlation trackers. Their next bar rebuilds them from
        the stores, the imported bars included."""
        for key in [k for k in self._pipelines if k[0] == tenant_id and k[1] == symbol]:
            async with self._locks.setdefault(key, asyncio.Lock()):
                self._pipelines.pop(key, None)
                self._undo.pop(key, None)
        self._cross.forget(lambda tenant: tenant == tenant_id)

    def _replay_bars_needed(self, timeframe: Timeframe) -> int:
        """Bars a replay needs to rebuild a pipeline of ``timeframe`` exactly."""
        needed = self._bars_needed.get(timeframe)
        if needed is None:
            pipeline = SymbolPipeline(self.feature_set, timeframe, self._regime_config)
            needed = self._bars_needed[timeframe] = pipeline.replay_bars_needed
        return needed

    async def stop(self, *, release: bool = True) -> None:
        """Stop consuming (``release=False``: leave the partition leases to expire, as a
        crashed process would), then the background work."""
        await self.bar_input.stop(release=release)
        await self._deferred.stop()
        if self._hellos is not None:
            await self._hellos.unsubscribe()
            self._hellos = None
        await self._warming.stop()

    @property
    def warming(self) -> int:
        """Terminals' symbol lists whose pipelines are still being built (``on_hello``)."""
        return len(self._warming)

    def pipeline(self, tenant_id: str, symbol: str, timeframe: Timeframe) -> SymbolPipeline | None:
        """Return the live pipeline of a key, if this process holds one."""
        return self._pipelines.get((tenant_id, symbol, timeframe))

    def symbols_of(self, tenant_id: str, timeframe: Timeframe) -> list[str]:
        """Return the symbols of a tenant with live features in ``timeframe`` here."""
        return sorted(s for t, s, tf in self._pipelines if t == tenant_id and tf == timeframe)

    async def on_message(self, message: BusMessage) -> None:
        try:
            bar = BarPublished.from_json(message.data)
        except ValueError as exc:
            self.stats.rejected_messages += 1
            log.warning("features_bad_bar_message", subject=message.subject, error=str(exc))
            await message.term()
            return
        await self.on_bar(bar)

    async def on_bar(self, bar: BarPublished) -> list[PipelineOutput]:
        """Compute, store and publish the features of one published bar; return the outputs.

        The computation is charged to the bar's tenant (``core.cpu_share``): a tenant
        replaying history closes bars many times a second, and its terminal's frames are
        read more slowly once that and its ticks exceed its tier's share, not the others'.
        Only the synchronous part counts; what the awaits wait for is not the tenant's.
        """
        timeframe = Timeframe(bar.timeframe)
        if timeframe not in self._timeframes:
            return []
        key: Key = (bar.tenant_id, bar.symbol, timeframe)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            self.stats.bars += 1
            pipeline = self._pipelines.get(key)
            began = time.perf_counter()
            try:
                if pipeline is not None and (pipeline.last_ts is None or bar.ts > pipeline.last_ts):
                    undo = pipeline.checkpoint()
                    outputs = [pipeline.update(_values_of(bar))]
                    self._undo[key] = undo
                    self._charge(bar.tenant_id, began)
                elif pipeline is not None and bar.ts == pipeline.last_ts and key in self._undo:
                    outputs = [self._redo_last(key, pipeline, bar)]
                    self._charge(bar.tenant_id, began)
                elif pipeline is not None:
                    # An older bar revised: one rebuild for a burst of them, a moment later.
                    self.stats.deferred_revisions += 1
                    self._deferred.mark(key, bar.ts)
                    return []
                else:
                    outputs = await self._rebuild(key, bar)
            except ValueError as exc:  # inconsistent prices: nothing to compute from
                self.stats.rejected_bars += 1
                log.warning("features_bar_rejected", symbol=bar.symbol, ts=bar.ts, error=str(exc))
                return []
            await self._emit(key, outputs, revised=bar.revised or len(outputs) > 1)
        try:
            if await self._cross.update(bar, timeframe):
                self.stats.correlation_updates += 1
        except Exception as exc:  # the bar's own vectors are stored and published already
            self.stats.correlation_failures += 1
            log.error("features_correlation_failed", symbol=bar.symbol, error=repr(exc))
        return outputs

    def _charge(self, tenant_id: str, began: float) -> None:
        if self._cpu_shares is not None:
            self._cpu_shares.charge(tenant_id, time.perf_counter() - began)

    async def _rebuild_since(self, key: Key, since_ts: int) -> None:
        """Rebuild ``key`` from its stored bars and republish from the bar at ``since_ts``
        (the earliest revised one) through the last one applied."""
        tenant, symbol, timeframe = key
        async with self._locks.setdefault(key, asyncio.Lock()):
            # The bar at since_ts is stored before it is published (or the latest before it).
            revised = await read_bars(
                self._store, TenantId(tenant), symbol, timeframe, end_ms=since_ts + 1, count=1
            )
            if not revised or key not in self._pipelines:
                return
            bar = revised[-1]
            outputs = await self._rebuild(key, bar)
            await self._emit(key, outputs, revised=True)

    def _redo_last(self, key: Key, pipeline: SymbolPipeline, bar: BarPublished) -> PipelineOutput:
        """The last bar again (revised by a late tick, or redelivered): restore the state
        from before it and apply the new bar; the same state a rebuild would reach."""
        self.stats.redone_bars += 1
        pipeline.rollback(self._undo[key])
        return pipeline.update(_values_of(bar))

    async def _rebuild(self, key: Key, bar: BarPublished | AggregatedBar) -> list[PipelineOutput]:
        """Rebuild the pipeline of ``key`` from stored bars; return the outputs to emit.

        Replays the bars before ``bar``; then ``bar`` itself, and, when it revised a bar the
        old pipeline had passed, the stored bars after it up to the old pipeline's last bar.
        """
        tenant, symbol, timeframe = key
        old = self._pipelines.get(key)
        count = max(self.settings.replay_bars, self._replay_bars_needed(timeframe))
        history = await self._stored_history(key, end_ms=bar.ts)
        # The replay (thousands of bars, mixture refits) runs in a worker process on a
        # pipeline no one else sees yet: the event loop keeps serving ticks.
        replay = await replayed(self.feature_set, timeframe, self._regime_config, history)
        pipeline = replay.pipeline
        self.stats.rejected_bars += replay.refused
        outputs = [pipeline.update(_values_of(bar))]
        if old is not None and old.last_ts is not None and old.last_ts > bar.ts:
            later = await read_bars(
                self._store,
                TenantId(tenant),
                symbol,
                timeframe,
                end_ms=old.last_ts + 1,
                count=count,
            )
            outputs += [pipeline.update(_values_of(b)) for b in later if b.ts > bar.ts]
        self._pipelines[key] = pipeline
        self._undo.pop(key, None)
        self.stats.rebuilds += 1
        self.stats.replayed_bars += len(history)
        return outputs

    async def _emit(self, key: Key, outputs: Sequence[PipelineOutput], *, revised: bool) -> None:
        tenant, symbol, timeframe = key
        fs = self.feature_set
        key_tokens = (tenant, symbol, timeframe.value, fs.fingerprint)
        now = self._clock.now_ms()
        rows = [
            vector_row(
                TenantId(tenant),
                symbol,
                timeframe.value,
                out.ts,
                fs,
                out.values.tolist(),
                out.regime,
                computed_ms=now,
            )
            for out in outputs
        ]
        await self._store.ensure_table(self._table)  # a dictionary lookup once declared
        await self._store.append(self._table.name, rows)
        for out in outputs:
            event = FeaturesComputed(
                tenant_id=tenant,
                symbol=symbol,
                timeframe=timeframe.value,
                ts=out.ts,
                feature_set=fs.key,
                fingerprint=fs.fingerprint,
                names=fs.names,
                values=tuple(finite_or_none(v) for v in out.values.tolist()),
                regime=out.regime.to_dict(),
                revised=revised,
                bar={
                    "open": out.bar.open,
                    "high": out.bar.high,
                    "low": out.bar.low,
                    "close": out.bar.close,
                    "volume": out.bar.volume,
                },
            )
            await self._bus.publish(
                features_topic(tenant, symbol, timeframe.value, partitions=self._bus.partitions),
                event.to_json(),
                headers=first_publication(revised, "features", *key_tokens, str(out.ts)),
            )
            for kind, previous, current in out.changes:
                self.stats.regime_changes += 1
                probabilities = (
                    out.regime.trend_probabilities
                    if kind == "trend"
                    else out.regime.volatility_probabilities
                )
                change = RegimeChanged(
                    tenant_id=tenant,
                    symbol=symbol,
                    timeframe=timeframe.value,
                    ts=out.ts,
                    kind=kind,
                    previous=previous,
                    current=current,
                    probabilities={k: finite_or_none(v) for k, v in probabilities.items()},
                )
                await self._bus.publish(
                    regime_topic(tenant, symbol, timeframe.value),
                    change.to_json(),
                    headers=first_publication(revised, "regime", *key_tokens, str(out.ts), kind),
                )
        self.stats.vectors += len(outputs)
        per_tf = self.stats.per_timeframe
        per_tf[timeframe.value] = per_tf.get(timeframe.value, 0) + len(outputs)


def _values_of(bar: BarPublished | AggregatedBar) -> BarRow:
    if isinstance(bar, AggregatedBar):
        spread = bar.spread_mean if bar.tick_count else None
    else:
        spread = bar.spread_mean
    return bar_row(bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, spread)
