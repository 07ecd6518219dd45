"""The live ml service: feature vectors in, predictions out, scored when their time comes.

It consumes the ``features.p<k>.<tenant>.<symbol>.<tf>`` vectors (``vector_input``: all of
them with the durable consumer ``ml`` in one process; with replicas, this replica's share of
the tenant partitions, each read by ``ml-p<k>`` as the features service reads its bars) and
queues them; one worker drains the queue in batches (up to ``batch_max``), groups the due
vectors by model and runs ONE ONNX Runtime call per model for all symbols that are due. For
each vector it publishes ``PredictionMade`` on ``predictions.p<k>.<tenant>.<symbol>.<tf>`` and
stores it. A prediction carries a message id (``prediction_headers``), so a vector served
again after a redelivery is published once to durable consumers. The served model is the
tenant's production version of ``CHAINFLOW_ML_MODEL`` (its own custom model if it has one,
else the platform's), re-resolved every ``refresh_s``; it predicts the timeframe it was
trained on, and a model trained on another feature set (fingerprint) refuses the vector.

When a prediction's horizon has passed it is scored (``chainflow.ml.live.state``), stored
in ``prediction_scores`` and added to the model's rolling performance on that symbol; a
model falling below its training baseline raises ``ModelUnderperforming`` on
``ml.alerts.<tenant>`` (``ModelRecovered`` when it is back). With
``CHAINFLOW_ML_FALLBACK_AFTER`` set, a model that stays below its baseline for that many
consecutive scored predictions is replaced for the tenant by its previous production
version, else by ``hold`` (``chainflow.ml.live.actions``).

The bus message is acked once its vector is served (the prediction published and stored),
not when it is queued: the handler waits for the worker. A partition's consumer has one
message in flight (``hub.api.PartitionOwner``), so the queue holds at most one vector per
partition and a batch gathers the partitions' current vectors (with 16 partitions, up to 16
in one ONNX call). A replica killed with vectors queued has not acked them: they are
redelivered to the partition's next owner, which gets the partition's next vector only once
that one is settled, so each key's vectors are served in order across the takeover. A
vector whose partition this replica no longer serves (its lease lost, or stopped without
release) is given up unserved and nakked for the next owner; a batch being served
finishes. A batch that fails is logged and its messages acked, as before: predictions are
derived data, and the vectors they come from are stored.

What a process keeps per key (its ``KeyState``: bars, vectors, predictions waiting for their
horizon; the live performance and fallback streak; the tenant's resolved model) is rebuilt
from the stores on the key's next vector, as after a restart. So when a partition changes
hands, the giving replica serves its vector in flight before its lease is freed, and both
drop what they kept of that partition's tenants (``_forget``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.settings import MlSettings
from chainflow.features.api import (
    FeaturesComputed,
    all_feature_vectors,
    feature_vectors_of_partition,
)
from chainflow.hub.api import MESSAGE_ID_HEADER, BusMessage, EventBus, KeyedInput, Membership
from chainflow.ml.events import PredictionMade, predictions_topic
from chainflow.ml.live.actions import LiveActions
from chainflow.ml.live.drift import LiveDrift
from chainflow.ml.live.handoff import Handoff
from chainflow.ml.live.model_cache import ServedModel, ServedModels
from chainflow.ml.live.prediction_table import PREDICTIONS_TABLE, SCORES_TABLE
from chainflow.ml.live.scoring import LiveScoring
from chainflow.ml.live.state import KeyState, PendingPrediction
from chainflow.ml.registry.fallback_log import FALLBACKS_TABLE, FallbackLog
from chainflow.ml.registry.model_registry import ModelRegistry
from chainflow.ml.training.retrain_schedule import RetrainSchedule
from chainflow.storage.api import TimeSeriesStore, VectorIndex
from chainflow.storage.relational import Database

log = get_logger("chainflow.ml.service")

SERVICE = "ml"
DURABLE_NAME = "ml"
CLASS_NAMES = ("down", "flat", "up")
Key = tuple[str, str, str]  # tenant, symbol, timeframe


@dataclass(slots=True)
class MlStats:
    vectors: int = 0
    predictions: int = 0
    batches: int = 0
    no_model: int = 0
    other_timeframe: int = 0
    feature_set_mismatches: int = 0
    warming_up: int = 0
    ignored_messages: int = 0


@dataclass(frozen=True, slots=True)
class BarContext:
    """What a prediction keeps of its own bar (a batch may hold later bars of the symbol)."""

    state: KeyState
    close: float
    atr: float
    patterns: list[str]
    similar: dict[str, float | int | None] | None


class MlService:
    """Per-process live inference and scoring; see the module doc."""

    def __init__(
        self,
        *,
        bus: EventBus,
        store: TimeSeriesStore,
        database: Database,
        registry: ModelRegistry,
        clock: Clock,
        settings: MlSettings,
        vectors: VectorIndex | None = None,
        membership: Membership | None = None,
    ) -> None:
        self._bus = bus
        self._store = store
        self._clock = clock
        self.settings = settings
        self.fallbacks = FallbackLog(store)
        self.models = ServedModels(registry, database, clock, settings, fallbacks=self.fallbacks)
        self.actions = LiveActions(
            after=settings.fallback_after,
            registry=registry,
            database=database,
            log_=self.fallbacks,
            bus=bus,
            clock=clock,
            on_fallback=self.models.forget,
        )
        self.scoring = LiveScoring(
            bus=bus,
            store=store,
            clock=clock,
            settings=settings,
            vectors=vectors,
            actions=self.actions,
            drift=LiveDrift(
                store=store,
                bus=bus,
                threshold=settings.drift_psi,
                every=settings.min_scored,
                window=settings.performance_window,
            ),
        )
        self._states: dict[Key, KeyState] = {}
        self._handoff = Handoff()
        self._worker: asyncio.Task[None] | None = None
        self.vector_input = KeyedInput(
            bus=bus,
            handler=self.on_message,
            service=SERVICE,
            durable=DURABLE_NAME,
            every=all_feature_vectors(),
            subject=feature_vectors_of_partition,
            membership=membership,
            on_partition=self._forget,
        )
        self.stats = MlStats()
        self.retrain: RetrainSchedule | None = None  # set by the runtime when it wires one

    async def start(self) -> None:
        await self._store.ensure_table(PREDICTIONS_TABLE)
        await self._store.ensure_table(SCORES_TABLE)
        await self._store.ensure_table(FALLBACKS_TABLE)
        self._worker = asyncio.create_task(self._run(), name="ml-inference")
        await self.vector_input.start()

    async def stop(self, *, release: bool = True) -> None:
        """Stop consuming, then stop the worker. With ``release`` (a clean stop) each
        partition's vector in flight is served and acked before its lease is freed; without
        it (a crash, in tests) the leases are left to expire and what was queued is given up
        unserved (nakked: redelivered to the partitions' next owners)."""
        await self.vector_input.stop(release=release)
        await self._handoff.join()  # every handler has returned: nothing left to serve
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def on_message(self, message: BusMessage) -> None:
        try:
            vector = FeaturesComputed.from_json(message.data)
        except ValueError:
            self.stats.ignored_messages += 1  # a regime event shares the wildcard
            return
        await self._handoff.hand(vector, message)

    async def _forget(self, partition: int) -> None:
        """Partition ``partition`` was given up or taken: drop what this process kept of the
        partition's tenants; their keys are rebuilt from the stores on their next vector
        here (state kept from an earlier turn is stale). Its vector in flight was served or
        given up before its consumer was unsubscribed."""
        in_partition = self.vector_input.partition_of
        for key in [k for k in self._states if in_partition(k[0]) == partition]:
            del self._states[key]
        trackers = self.scoring.trackers
        for tracker_key in [k for k in trackers if in_partition(k[0]) == partition]:
            del trackers[tracker_key]  # rebuilt from the stored scores, its streak replayed
        self.actions.forget(lambda tenant: in_partition(tenant) == partition)
        for tenant in self.models.tenants():
            if in_partition(tenant) == partition:
                self.models.forget(tenant)  # re-resolved; no longer retrained here

    @property
    def queued(self) -> int:
        """Vectors waiting for the worker (at most one per partition consumer)."""
        return self._handoff.waiting

    @property
    def given_up(self) -> int:
        """Vectors queued here and not served: their partition was lost (or the process
        stopped without release); nakked for the partition's next owner."""
        return self._handoff.given_up

    async def drain(self) -> None:
        """Wait until every queued vector is served (tests, shutdown)."""
        await self._handoff.join()

    async def _run(self) -> None:
        while True:
            batch = await self._handoff.take(
                self.settings.batch_max, self.vector_input.serves_tenant
            )
            try:
                if batch:
                    await self.serve([queued.vector for queued in batch])
            except Exception as exc:  # never let one bad batch stop the worker
                log.error("ml_batch_failed", size=len(batch), error=repr(exc))
            finally:
                self._handoff.done(batch)

    async def serve(self, vectors: list[FeaturesComputed]) -> list[PredictionMade]:
        """Update state, score what is due, predict every vector a model can serve."""
        started = time.perf_counter()
        self.stats.vectors += len(vectors)
        self.stats.batches += 1
        due: dict[str, list[tuple[FeaturesComputed, ServedModel, np.ndarray, BarContext]]]
        due = defaultdict(list)
        touched: dict[Key, tuple[KeyState, ServedModel]] = {}
        for vector in vectors:
            key = (vector.tenant_id, vector.symbol, vector.timeframe)
            model = await self.models.resolve(vector.tenant_id)
            state = await self._state(key, vector, model)
            self._observe(state, vector)
            if model is not None:
                await self.scoring.score_due(key, state, model)
                touched[key] = (state, model)
            if vector.revised:
                continue
            if model is None:
                self.stats.no_model += 1
                continue
            if model.version.timeframe and model.version.timeframe != vector.timeframe:
                self.stats.other_timeframe += 1  # a model predicts the bars it was trained on
                continue
            if model.version.feature_set_fingerprint != vector.fingerprint:
                self.stats.feature_set_mismatches += 1
                log.warning(
                    "ml_feature_set_mismatch",
                    model=model.version.ref,
                    expected=model.version.feature_set,
                    received=vector.feature_set,
                )
                continue
            inputs = state.window_matrix() if model.bundle.window > 1 else state.vectors[-1][1]
            if inputs is None or not np.all(np.isfinite(inputs)):
                self.stats.warming_up += 1
                continue
            context = BarContext(
                state=state,
                close=state.bars[-1][4] if state.bars else float("nan"),
                atr=state.atr_value,
                patterns=state.patterns(),
                similar=await self.scoring.similar(key, state, vector.ts),
            )
            due[model.version.id].append((vector, model, inputs, context))
        made: list[PredictionMade] = []
        for items in due.values():
            model = items[0][1]
            output = model.bundle.predict(np.stack([inputs for _, _, inputs, _ in items]))
            latency_ms = (time.perf_counter() - started) * 1000.0
            for row, (vector, _, inputs, context) in enumerate(items):
                made.append(
                    await self._publish(vector, model, context, output, row, inputs, latency_ms)
                )
        for key, (state, model) in touched.items():  # a batch may hold a prediction's horizon
            await self.scoring.score_due(key, state, model)
        return made

    async def _publish(
        self,
        vector: FeaturesComputed,
        model: ServedModel,
        context: BarContext,
        output: object,
        row: int,
        inputs: np.ndarray,
        latency_ms: float,
    ) -> PredictionMade:
        probabilities = tuple(float(p) for p in output.probabilities[row])  # type: ignore[attr-defined]
        volatility = float(output.volatility[row])  # type: ignore[attr-defined]
        momentum = float(output.momentum[row])  # type: ignore[attr-defined]
        latest = inputs if inputs.ndim == 1 else inputs[-1]
        anomaly_score = model.anomaly_score(vector.names, latest)
        label = model.version.label
        event = PredictionMade(
            tenant_id=vector.tenant_id,
            symbol=vector.symbol,
            timeframe=vector.timeframe,
            ts=vector.ts,
            model=model.version.ref,
            feature_set=vector.feature_set,
            probabilities=dict(zip(CLASS_NAMES, probabilities, strict=True)),
            expected_volatility=volatility,
            momentum=momentum,
            horizon=int(label.get("horizon", 12)),
            anomaly=anomaly_score is not None and anomaly_score > self.settings.anomaly_z,
            anomaly_score=anomaly_score,
            patterns=context.patterns,
            similar=context.similar,
            latency_ms=round(latency_ms, 3),
            close=_finite(context.close),
            atr=_finite(context.atr),
        )
        await self._bus.publish(
            predictions_topic(
                vector.tenant_id,
                vector.symbol,
                vector.timeframe,
                partitions=self._bus.partitions,
            ),
            event.to_json(),
            headers=prediction_headers(vector),
        )
        close = context.close
        await self._store.append(
            PREDICTIONS_TABLE.name,
            [
                {
                    "tenant_id": vector.tenant_id,
                    "symbol": vector.symbol,
                    "ts": vector.ts,
                    "timeframe": vector.timeframe,
                    "model": model.version.ref,
                    "p_down": probabilities[0],
                    "p_flat": probabilities[1],
                    "p_up": probabilities[2],
                    "volatility": volatility,
                    "momentum": momentum,
                    "horizon": event.horizon,
                    "threshold_atr": float(label.get("threshold_atr", 0.5)),
                    "close": close,
                    "atr": context.atr,
                    "anomaly": int(event.anomaly),
                    "latency_ms": latency_ms,
                }
            ],
        )
        context.state.pending.append(
            PendingPrediction(
                ts=vector.ts,
                model=model.version.ref,
                probabilities=probabilities,  # type: ignore[arg-type]
                close=close,
                atr=context.atr,
                horizon=event.horizon,
                threshold_atr=float(label.get("threshold_atr", 0.5)),
                kind=str(label.get("kind", "direction")),
            )
        )
        self.stats.predictions += 1
        return event

    async def _state(
        self, key: Key, vector: FeaturesComputed, model: ServedModel | None
    ) -> KeyState:
        state = self._states.get(key)
        window = model.bundle.window if model is not None else 1
        if state is None or state.window < window:
            state = KeyState(window=window)
            await self.scoring.warm(key, state, vector, model)
            self._states[key] = state
        return state

    def _observe(self, state: KeyState, vector: FeaturesComputed) -> None:
        bar = vector.bar
        if bar is not None:
            state.add_bar(vector.ts, bar["open"], bar["high"], bar["low"], bar["close"])
        values = np.array([np.nan if v is None else v for v in vector.values], dtype=np.float64)
        state.add_vector(vector.ts, values)


def prediction_headers(vector: FeaturesComputed) -> dict[str, str]:
    """Return the headers of the prediction of ``vector``: a message id the bus stores once
    per bar and key, so the vector served again (redelivered after a crash or a lost lease,
    served by the partition's next owner) is not published twice."""
    identity = ("prediction", vector.tenant_id, vector.symbol, vector.timeframe, str(vector.ts))
    return {MESSAGE_ID_HEADER: "/".join(identity)}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
