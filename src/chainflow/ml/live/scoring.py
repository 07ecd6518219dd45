"""Scoring live predictions and tracking each model's live quality per symbol.

``warm`` rebuilds a symbol's ``KeyState`` from the store after a restart (bars, vectors,
and the predictions still waiting for their horizon), ``score_due`` scores what is due,
stores the outcome, feeds the model's ``LivePerformance`` on that symbol and publishes
``ModelUnderperforming`` / ``ModelRecovered`` when the rolling hit rate crosses the
baseline accuracy the model's training run measured (majority class). Each score also
goes to the fallback policy (``chainflow.ml.live.actions``, when set), which counts how
long the model has stayed below its baseline and replaces it when that lasts, and to
the drift check (``chainflow.ml.live.drift``), which publishes ``ModelDrifting``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainflow.bridge.api import read_bars
from chainflow.core.clock import Clock
from chainflow.core.ids import TenantId
from chainflow.core.market import Timeframe
from chainflow.core.settings import MlSettings
from chainflow.features.api import FeaturesComputed, get_feature_set, read_recent_vectors
from chainflow.hub.api import EventBus
from chainflow.ml.events import ModelRecovered, ModelUnderperforming, alerts_topic
from chainflow.ml.live.actions import LiveActions
from chainflow.ml.live.drift import LiveDrift
from chainflow.ml.live.model_cache import ServedModel
from chainflow.ml.live.prediction_table import (
    PREDICTIONS_TABLE,
    SCORES_TABLE,
    probabilities_of,
    recent_rows,
)
from chainflow.ml.live.state import BARS_KEPT, VECTORS_KEPT, KeyState, PendingPrediction
from chainflow.ml.patterns.similarity import PatternMemory, pattern_namespace
from chainflow.ml.registry.types import ModelVersion
from chainflow.ml.training.performance import LivePerformance, ScoredPrediction
from chainflow.storage.api import TimeSeriesStore, VectorIndex

ATR_WARMUP_BARS = 400  # Wilder's ATR from 400 bars back equals the whole history's (1e-13)
SIMILARITY_WINDOW = 16
SIMILARITY_FEATURES = 11
SIMILAR_K = 10
Key = tuple[str, str, str]


def baseline_accuracy(version: ModelVersion) -> float:
    """Return the majority-class accuracy the model's training run measured (else 1/3)."""
    baselines: dict[str, Any] = version.metrics.get("baselines") or {}
    value = (baselines.get("majority") or {}).get("accuracy")
    return float(value) if isinstance(value, int | float) else 1.0 / 3.0


class LiveScoring:
    """Per-process scoring and live performance of the served models."""

    def __init__(
        self,
        *,
        bus: EventBus,
        store: TimeSeriesStore,
        clock: Clock,
        settings: MlSettings,
        vectors: VectorIndex | None = None,
        actions: LiveActions | None = None,
        drift: LiveDrift | None = None,
    ) -> None:
        self._vectors = vectors
        self.actions = actions
        self.drift = drift
        self._bus = bus
        self._store = store
        self._clock = clock
        self._settings = settings
        self.trackers: dict[tuple[str, str, str, str], LivePerformance] = {}
        self.scored = 0
        self.alerts = 0

    async def warm(
        self, key: Key, state: KeyState, vector: FeaturesComputed, model: ServedModel | None
    ) -> None:
        """Fill ``state`` with what the store holds before ``vector``'s bar."""
        tenant, symbol, timeframe = key
        bars = await read_bars(
            self._store,
            TenantId(tenant),
            symbol,
            Timeframe(timeframe),
            end_ms=vector.ts,
            count=BARS_KEPT + ATR_WARMUP_BARS,
        )
        for bar in bars:
            state.add_bar(bar.ts, bar.open, bar.high, bar.low, bar.close)
        feature_set = get_feature_set(vector.feature_set)
        stored = await read_recent_vectors(
            self._store,
            TenantId(tenant),
            symbol,
            timeframe,
            feature_set,
            end_ms=vector.ts,
            count=max(state.window, VECTORS_KEPT),
        )
        for item in stored:
            state.add_vector(item.ts, _array(item.values))
        if model is not None:
            await self._warm_pending(key, state, vector.ts, model)
        state.warmed = True

    async def _warm_pending(
        self, key: Key, state: KeyState, end_ms: int, model: ServedModel
    ) -> None:
        tenant, symbol, timeframe = key
        ref = model.version.ref
        made = await recent_rows(
            self._store,
            PREDICTIONS_TABLE,
            TenantId(tenant),
            symbol,
            timeframe,
            ref,
            end_ms=end_ms,
            count=BARS_KEPT,
        )
        scored = await recent_rows(
            self._store,
            SCORES_TABLE,
            TenantId(tenant),
            symbol,
            timeframe,
            ref,
            end_ms=end_ms,
            count=BARS_KEPT,
        )
        done = {row["ts"] for row in scored}
        kind = str(model.version.label.get("kind", "direction"))
        for row in made:
            if row["ts"] not in done:
                state.pending.append(
                    PendingPrediction(
                        ts=row["ts"],
                        model=ref,
                        probabilities=probabilities_of(row),
                        close=row["close"],
                        atr=row["atr"],
                        horizon=row["horizon"],
                        threshold_atr=row["threshold_atr"],
                        kind=kind,
                    )
                )

    async def score_due(self, key: Key, state: KeyState, model: ServedModel) -> None:
        tenant, symbol, timeframe = key
        rows = []
        history: list[tuple[int, np.ndarray, float, int]] = []
        for pending, realized, move in state.due():
            window = state.window_ending(pending.ts, SIMILARITY_WINDOW)
            if window is not None and np.all(np.isfinite(window)):
                history.append(
                    (pending.ts, window[:, self.similarity_columns(window)], move, realized)
                )
            rows.append(
                {
                    "tenant_id": tenant,
                    "symbol": symbol,
                    "ts": pending.ts,
                    "timeframe": timeframe,
                    "model": pending.model,
                    "p_down": pending.probabilities[0],
                    "p_flat": pending.probabilities[1],
                    "p_up": pending.probabilities[2],
                    "realized": realized,
                    "scored_at_ts": state.last_ts or pending.ts,
                }
            )
            if pending.model == model.version.ref:
                tracker = await self.tracker(key, model)
                before = tracker.below_baseline
                tracker.add(ScoredPrediction(pending.ts, pending.probabilities, realized))
                if tracker.below_baseline != before:
                    await self._alert(key, model, tracker, pending.ts)
                live_key = (tenant, model.version.ref, symbol, timeframe)
                if self.actions is not None:
                    await self.actions.observe(live_key, model, tracker, pending.ts)
                if self.drift is not None:
                    await self.drift.observe(live_key, model.version, pending.ts)
        if rows:
            await self._store.append(SCORES_TABLE.name, rows)
            self.scored += len(rows)
        if history and self._vectors is not None:
            memory = PatternMemory(
                self._vectors, pattern_namespace(TenantId(tenant), symbol, timeframe)
            )
            await memory.add_history(
                [h[0] for h in history],
                np.stack([h[1] for h in history]),
                forward_returns=[h[2] for h in history],
                labels=[h[3] for h in history],
                known_ts=[state.last_ts or h[0] for h in history],
            )

    @staticmethod
    def similarity_columns(window: np.ndarray) -> slice:
        """The features a pattern is compared on: the first ``SIMILARITY_FEATURES`` of the
        vector (returns, lags, RSI, MACD in ``fx-core@1``'s order)."""
        return slice(0, min(SIMILARITY_FEATURES, window.shape[1]))

    async def similar(
        self, key: Key, state: KeyState, ts: int
    ) -> dict[str, float | int | None] | None:
        """Summarize the past windows most like the one ending at ``ts`` (outcomes known
        before ``ts`` only)."""
        window = state.window_ending(ts, SIMILARITY_WINDOW)
        if self._vectors is None or window is None or not np.all(np.isfinite(window)):
            return None
        tenant, symbol, timeframe = key
        memory = PatternMemory(
            self._vectors, pattern_namespace(TenantId(tenant), symbol, timeframe)
        )
        found = await memory.similar(
            window[:, self.similarity_columns(window)], SIMILAR_K, before_ts=ts
        )
        return {
            "matches": found.count,
            "up_share": found.up_share,
            "down_share": found.down_share,
            "mean_forward_return": found.mean_forward_return,
            "mean_score": found.mean_score,
        }

    async def tracker(self, key: Key, model: ServedModel) -> LivePerformance:
        """Return the live performance of ``model`` on ``key``, warmed from stored scores."""
        tenant, symbol, timeframe = key
        tracker_key = (tenant, model.version.ref, symbol, timeframe)
        tracker = self.trackers.get(tracker_key)
        if tracker is None:
            tracker = LivePerformance(
                window=self._settings.performance_window,
                min_scored=self._settings.min_scored,
                baseline_accuracy=baseline_accuracy(model.version),
            )
            for row in await recent_rows(
                self._store,
                SCORES_TABLE,
                TenantId(tenant),
                symbol,
                timeframe,
                model.version.ref,
                end_ms=2**62,
                count=self._settings.performance_window,
            ):
                tracker.add(ScoredPrediction(row["ts"], probabilities_of(row), row["realized"]))
                if self.actions is not None:
                    self.actions.replay((tenant, model.version.ref, symbol, timeframe), tracker)
            self.trackers[tracker_key] = tracker
        return tracker

    async def _alert(self, key: Key, model: ServedModel, tracker: LivePerformance, ts: int) -> None:
        tenant, symbol, timeframe = key
        kind = ModelUnderperforming if tracker.below_baseline else ModelRecovered
        event = kind(
            tenant_id=tenant,
            model=model.version.ref,
            symbol=symbol,
            timeframe=timeframe,
            ts=ts,
            hit_rate=tracker.hit_rate(),
            baseline_accuracy=tracker.baseline_accuracy,
            scored=tracker.count,
        )
        await self._bus.publish(alerts_topic(tenant), event.to_json())
        self.alerts += 1


def _array(values: tuple[float, ...]) -> np.ndarray:
    return np.array(values, dtype=np.float64)
