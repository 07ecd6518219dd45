"""The one strategy interface that the live engine and the backtester both run unchanged.

The engine calls ``Strategy.on_bar`` once per bar (or per tick on the forming bar) with a
``StrategyContext`` and gets a ``Decision`` back: an intent that risk sizes. A strategy reads
no clock: time is ``context.decision_input.ts``. Given the same sequence of contexts, a
strategy returns the same sequence of decisions, so a backtest replays what live would do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from chainflow.trading.decision import (
    Action,
    Decision,
    DecisionInput,
    DecisionThresholds,
    TradingPreferences,
    synthesize,
    thresholds_for,
)
from chainflow.trading.hysteresis import SignalStabilizer, StabilizerSettings


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What a strategy sees at one bar: the decision input and the symbol's position.

    ``position`` is the signed volume held in lots: above 0 long, below 0 short, 0 flat.
    ``None`` means the engine does not track positions (the strategy assumes its signals
    were followed).
    """

    decision_input: DecisionInput
    position: float | None = None

    def __post_init__(self) -> None:
        if self.position is not None and not math.isfinite(self.position):
            raise ValueError(f"expected a finite position or None; received {self.position!r}")

    @property
    def position_side(self) -> Action | None:
        """Return ``buy`` when long, ``sell`` when short, ``hold`` when flat, or ``None``."""
        if self.position is None:
            return None
        if self.position > 0:
            return "buy"
        return "sell" if self.position < 0 else "hold"


class Strategy(Protocol):
    """A per-tenant trading strategy run bar by bar by the live engine and the backtester."""

    name: str

    def on_bar(self, context: StrategyContext) -> Decision:
        """Return the decision for this bar."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """Return the strategy's state as JSON-ready data."""
        ...

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from ``snapshot`` as if the bars before it had just been run."""
        ...


class ModelStrategy:
    """Trade the ml model's predictions: ``synthesize`` and then ``SignalStabilizer``."""

    def __init__(
        self,
        preferences: TradingPreferences,
        thresholds: DecisionThresholds | None = None,
        stabilizer_settings: StabilizerSettings | None = None,
        name: str = "model",
    ) -> None:
        self.name = name
        self.preferences = preferences
        self.thresholds = thresholds or thresholds_for(preferences.risk_tolerance)
        settings = stabilizer_settings or StabilizerSettings()
        if settings.exit_edge > self.thresholds.min_edge:
            raise ValueError(
                f"expected exit_edge <= min_edge {self.thresholds.min_edge} "
                f"({self.thresholds.risk_tolerance}); received {settings.exit_edge}"
            )
        self.stabilizer = SignalStabilizer(settings)

    def on_bar(self, context: StrategyContext) -> Decision:
        """Return the stable decision for this bar."""
        raw = synthesize(context.decision_input, self.preferences, self.thresholds)
        return self.stabilizer.update(raw, position=context.position_side)

    def snapshot(self) -> dict[str, Any]:
        """Return the stabilizer state (the only state this strategy has)."""
        return {"name": self.name, "stabilizer": self.stabilizer.snapshot()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from ``snapshot``; it must come from a strategy with this name."""
        if snapshot.get("name") != self.name:
            raise ValueError(
                f"expected a snapshot of strategy {self.name!r}; "
                f"received one of {snapshot.get('name')!r}"
            )
        self.stabilizer.restore(snapshot["stabilizer"])
