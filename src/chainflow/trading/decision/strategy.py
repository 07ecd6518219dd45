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

from chainflow.core.market import OHLCV
from chainflow.trading.decision.hysteresis import SignalStabilizer, StabilizerSettings
from chainflow.trading.decision.synthesis import (
    Action,
    Decision,
    DecisionInput,
    DecisionThresholds,
    TradingPreferences,
    synthesize,
    thresholds_for,
)
from chainflow.trading.errors import (
    InvalidDecisionInputError,
    InvalidStrategySettingsError,
    InvalidTradingStateError,
)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What a strategy sees at one bar: the model's input, the bar and the position.

    ``decision_input`` is the ml prediction and regime of the bar (``None`` for strategies
    that read only prices, such as the backtester's built-in indicator strategies).
    ``bar`` is the bar just closed (in live, the forming bar when run per tick); at least
    one of the two is given. ``position`` is the signed volume held in lots: above 0 long,
    below 0 short, 0 flat. ``None`` means the engine does not track positions (the strategy
    assumes its signals were followed).
    """

    decision_input: DecisionInput | None = None
    position: float | None = None
    bar: OHLCV | None = None
    symbol_name: str = ""

    def __post_init__(self) -> None:
        if self.position is not None and not math.isfinite(self.position):
            raise InvalidDecisionInputError(
                f"expected a finite position or None; received {self.position!r}"
            )
        if self.decision_input is None and self.bar is None:
            raise InvalidDecisionInputError("expected a decision_input or a bar; received neither")

    @property
    def symbol(self) -> str:
        """Return the symbol (of the decision input, else ``symbol_name``)."""
        return self.decision_input.symbol if self.decision_input is not None else self.symbol_name

    @property
    def ts(self) -> int:
        """Return the decision time: the prediction's ``ts``, else the bar's open time."""
        if self.decision_input is not None:
            return self.decision_input.ts
        assert self.bar is not None
        return self.bar.ts

    @property
    def position_side(self) -> Action | None:
        """Return ``buy`` when long, ``sell`` when short, ``hold`` when flat, or ``None``."""
        if self.position is None:
            return None
        if self.position > 0:
            return "buy"
        return "sell" if self.position < 0 else "hold"


class Strategy(Protocol):
    """A per-tenant trading strategy run bar by bar by the live engine and the backtester.

    Optional, outside the protocol: a ``borrows_context`` attribute set to ``True`` promises
    that ``on_bar`` keeps no reference to its context or the context's bar once it returns,
    so an engine may pass one context, updated in place, on every call (the backtester
    does). Without it, every call gets its own context.
    """

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
            raise InvalidStrategySettingsError(
                f"expected exit_edge <= min_edge {self.thresholds.min_edge} "
                f"({self.thresholds.risk_tolerance}); received {settings.exit_edge}"
            )
        self.stabilizer = SignalStabilizer(settings)

    def on_bar(self, context: StrategyContext) -> Decision:
        """Return the stable decision for this bar (it needs the model's input)."""
        if context.decision_input is None:
            raise InvalidDecisionInputError(
                f"strategy {self.name!r} expected a decision_input; received None"
            )
        raw = synthesize(context.decision_input, self.preferences, self.thresholds)
        return self.stabilizer.update(raw, position=context.position_side)

    def preview(self, context: StrategyContext) -> Decision:
        """Return what ``on_bar(context)`` would decide, leaving the state unchanged.

        The live hot path asks this on every tick of the forming bar; only the bar's close
        (``on_bar``) moves the hysteresis and cooldown on.
        """
        symbol = context.symbol
        saved = self.stabilizer.saved(symbol)
        try:
            return self.on_bar(context)
        finally:
            self.stabilizer.put_back(symbol, saved)

    def snapshot(self) -> dict[str, Any]:
        """Return the stabilizer state (the only state this strategy has)."""
        return {"name": self.name, "stabilizer": self.stabilizer.snapshot()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from ``snapshot``; it must come from a strategy with this name."""
        if snapshot.get("name") != self.name:
            raise InvalidTradingStateError(
                f"expected a snapshot of strategy {self.name!r}; "
                f"received one of {snapshot.get('name')!r}"
            )
        self.stabilizer.restore(snapshot["stabilizer"])
