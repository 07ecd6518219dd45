"""Live state of one (tenant, symbol, timeframe): the feature engine and the regime detector.

Both are fed the same closed bars in order. The state is a function of the bars fed, so a
pipeline rebuilt by replaying the stored bars after a restart continues exactly where the
lost one was (``FeaturesService`` does that), and ``snapshot``/``restore`` carry it as JSON.

``checkpoint``/``rollback`` put the state back in place instead (``core.state_undo``): how
the features service redoes its last bar when a late tick revises it. The JSON snapshot of
a warm ``fx-core@1`` pipeline (its scalers' windows, ~10,000 floats) cost ~6 ms per bar,
taken before every bar in case it was revised; a checkpoint copies the same windows' items
(~0.15 ms) and restores them into the same containers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainflow.core.market import OHLCV, Timeframe
from chainflow.core.state_undo import StatePlan
from chainflow.features.engine import FeatureEngine
from chainflow.features.errors import FeatureStateMismatchError
from chainflow.features.marked_fifo import FifoMark, FifoWindow, MarkedFifo
from chainflow.features.normalize import SCALER_TYPES, scalers_in
from chainflow.features.regimes import (
    RegimeChange,
    RegimeConfig,
    RegimeDetector,
    RegimeState,
    TrendRegime,
    VolatilityRegime,
    regime_changes,
)
from chainflow.features.sets import FeatureSet


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A pipeline's state recorded in place by ``SymbolPipeline.checkpoint``: the state
    objects but the windows by a ``StatePlan`` record; the rolling scalers and the regime
    detector's fit window by their marks (``marked_fifo``)."""

    plan: StatePlan
    saved: list[Any]
    marks: tuple[tuple[MarkedFifo, FifoMark], ...]
    count: int
    last_ts: int | None
    regime: RegimeState | None


@dataclass(frozen=True, slots=True)
class PipelineOutput:
    """What one bar produced: the feature vector, the regime, and the regime changes."""

    ts: int
    values: np.ndarray
    regime: RegimeState
    changes: tuple[RegimeChange, ...]
    bar: OHLCV


class SymbolPipeline:
    """Features and regimes of one symbol in one timeframe, one closed bar at a time."""

    def __init__(
        self,
        feature_set: FeatureSet,
        timeframe: Timeframe,
        regime_config: RegimeConfig | None = None,
    ) -> None:
        self.feature_set = feature_set
        self.timeframe = timeframe
        self.engine = FeatureEngine(feature_set)
        self.regimes = RegimeDetector(regime_config or RegimeConfig(), timeframe.milliseconds)
        self._regime: RegimeState | None = None
        self._marked: list[MarkedFifo] = []  # marked by checkpoint(), found with the plan
        self._plan = self._walked()  # of checkpoint()

    @property
    def last_ts(self) -> int | None:
        return self.engine.last_ts

    @property
    def regime(self) -> RegimeState | None:
        """Return the regime of the last bar fed (``None`` before the first)."""
        return self._regime

    @property
    def replay_bars_needed(self) -> int:
        """Return how many past bars rebuild this state exactly (see the module doc)."""
        return max(self.feature_set.warmup_bars, self.regimes.replay_bars_needed)

    def update(self, bar: OHLCV) -> PipelineOutput:
        """Feed one closed bar (``ts`` after the last one); return what it produced."""
        values = self.engine.update(bar)
        regime = self.regimes.update(bar.ts, bar.high, bar.low, bar.close)
        changes = tuple(regime_changes(self._regime, regime))
        self._regime = regime
        return PipelineOutput(bar.ts, values, regime, changes, bar)

    def checkpoint(self) -> Checkpoint:
        """Record the state (cheaply, in place) for a later ``rollback``.

        The checkpoint stays valid across later ``update`` calls (which replace no nested
        state objects, as ``FeatureEngine.preview`` relies on too) and rollbacks, until
        the next checkpoint: the rolling scalers and the regime detector's fit window
        are marked, not copied (their windows are most of the state, see
        ``marked_fifo``), and a new mark makes the last one stale. A JSON ``restore``
        replaces the state objects, so it walks the plan again.
        """
        engine = self.engine
        plan = self._plan
        saved = plan.record()
        if saved is None:  # a state object appeared since the walk (None became one)
            plan = self._plan = self._walked()
            saved = plan.record()
            assert saved is not None  # just walked: every attribute has its planned type
        marks = tuple((window, window.mark()) for window in self._marked)
        return Checkpoint(plan, saved, marks, engine.count, engine.last_ts, self._regime)

    def _walked(self) -> StatePlan:
        """Walk the state graph for ``checkpoint`` (and find the windows it marks): when
        the state is made or restored, not at its first checkpoint. The walk costs
        ~0.3 ms a pipeline (a process's first of a feature set ~4 ms, compiling the
        restore). Walked at the first checkpoint, every key warmed or rebuilt since a
        restart paid it at its first bar close, and those land together: the aligned
        benchmark's crossing of the hour walked 1,200 pipelines (M5 to H1 of 300 keys),
        a third of the features' lag samples on the serving loop in those seconds."""
        components = self.engine.components()
        self._marked = [*scalers_in(components), *self.regimes.windows()]
        return StatePlan([*components, self.regimes], skip=(*SCALER_TYPES, FifoWindow))

    def rollback(self, checkpoint: Checkpoint) -> None:
        """Put the state recorded by ``checkpoint`` back (the bars fed since are undone).

        Raise ``FeatureStateMismatchError`` for a checkpoint older than the last one."""
        for window, mark in checkpoint.marks:
            window.rewind(mark)
        checkpoint.plan.restore(checkpoint.saved)
        self.engine.rewound(checkpoint.count, checkpoint.last_ts)
        self._regime = checkpoint.regime

    def snapshot(self) -> dict[str, Any]:
        return {
            "feature_set": self.feature_set.key,
            "timeframe": self.timeframe.value,
            "engine": self.engine.snapshot(),
            "regimes": self.regimes.snapshot(),
            "regime": None if self._regime is None else self._regime.to_dict(),
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        if snapshot.get("timeframe") != self.timeframe.value:
            raise FeatureStateMismatchError(
                f"expected a snapshot of timeframe {self.timeframe.value}; "
                f"received {snapshot.get('timeframe')!r}"
            )
        self.engine.restore(snapshot["engine"])
        self.regimes.restore(snapshot["regimes"])
        self._plan = self._walked()  # the restores may have replaced nested state objects
        self._regime = None if snapshot["regime"] is None else _regime_from_dict(snapshot["regime"])


def _regime_from_dict(raw: dict[str, Any]) -> RegimeState:
    def probabilities(values: dict[str, float | None]) -> dict[str, float]:
        return {k: math.nan if v is None else float(v) for k, v in values.items()}

    return RegimeState(
        ts=raw["ts"],
        trend=None if raw["trend"] is None else TrendRegime(raw["trend"]),
        trend_probabilities=probabilities(raw["trend_probabilities"]),
        volatility=None if raw["volatility"] is None else VolatilityRegime(raw["volatility"]),
        volatility_probabilities=probabilities(raw["volatility_probabilities"]),
    )
