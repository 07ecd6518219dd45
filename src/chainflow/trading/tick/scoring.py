"""Scoring one key's tick on the forming bar: features preview, model, strategy, sizing.

The tick hot path (``trading.tick.path``) calls ``TickScorer.score`` once per key and
round, at the key's last tick: the forming bar is previewed on the key's committed
features (``FeatureEngine.preview``, the state put back), the tenant's production model
scores it, the strategy of the key previews its decision (one hysteresis with the bar-close
signals) and the decision is sized at the tick's ask (buy) or bid (sell) with the forming
bar's ATR on the paper account, then risk-checked (``decision.risk_check``). A key whose state is
being built, a missing model, a halted account or features still warming answer ``hold``
with the reason; a tenant whose model fell back to ``hold`` (``chainflow.ml.live.actions``)
gets the fallback's ``model_underperforming: ...`` reason instead of "no production model".
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import numpy as np

from chainflow.bridge.api import TicksAccepted
from chainflow.core.market import OHLCV
from chainflow.ml.api import ServedModel, ServedModelSource, no_model_reason
from chainflow.trading.decision.risk_check import CheckedSignal, size_and_check
from chainflow.trading.decision.sizing import SizingPolicy
from chainflow.trading.decision.strategy import ModelStrategy, StrategyContext
from chainflow.trading.decision.synthesis import Decision, DecisionInput, TradingPreferences
from chainflow.trading.paper.desk import PaperDesk
from chainflow.trading.tick.signal import TickSignal
from chainflow.trading.tick.state import KeyState, TickPathStats, regime_fields

StrategyFor = Callable[[str, str, str], Awaitable[tuple[ModelStrategy, TradingPreferences]]]
WARMING_REASON = (
    "warming: this symbol's state is being built from its stored bars; "
    "the model answers from the first tick after it is ready"
)


class TickScorer:
    """The signal of a key at a tick; see the module doc."""

    def __init__(
        self,
        *,
        models: ServedModelSource | None,
        desk: PaperDesk,
        strategy_for: StrategyFor,
        policy: SizingPolicy,
        stats: TickPathStats,
    ) -> None:
        self._models = models
        self._anomaly_z = models.anomaly_z if models is not None else math.inf
        self._desk = desk
        self._strategy_for = strategy_for
        self._policy = policy
        self.stats = stats

    async def score(
        self,
        event: TicksAccepted,
        state: KeyState | None,
        model: ServedModel | None,
        *,
        bid: float,
        ask: float,
    ) -> TickSignal:
        """Return the signal of the key now (a ``hold`` with the reason when it cannot)."""
        symbol = event.symbol
        if model is None:
            return TickSignal.hold(symbol, self.unavailable_reason(event.tenant_id), "")
        ref = model.version.ref
        if state is None:
            self.stats.warming += 1
            return TickSignal.hold(symbol, WARMING_REASON, ref)
        if state.forming is None:
            return TickSignal.hold(symbol, "no forming bar yet", ref)
        halted = self._desk.halted(event.tenant_id)
        if halted is not None:
            return TickSignal.hold(symbol, f"circuit breaker tripped: {halted}", ref)
        bar = state.forming.values()
        vector = state.pipeline.engine.preview(bar)
        inputs = np.stack([*state.closed, vector]) if model.bundle.window > 1 else vector
        if len(state.closed) + 1 < model.bundle.window or not np.all(np.isfinite(inputs)):
            self.stats.warming_up += 1
            needed = state.pipeline.feature_set.warmup_bars - state.pipeline.engine.count
            reason = f"features warming up ({max(needed, 1)} more closed bars needed)"
            return TickSignal.hold(symbol, reason, ref)
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
        sized = self.size(event.tenant_id, decision, state, bar, preferences, bid=bid, ask=ask)
        self.stats.scored += 1
        return TickSignal(
            symbol,
            sized.action,
            round(decision.confidence, 6),
            sized.size,
            sized.stop_loss,
            sized.take_profit,
            decision.model,
            (*decision.reasons, *sized.reasons),
        )

    def unavailable_reason(self, tenant_id: str) -> str:
        """Why the tenant has no model: its live fallback to ``hold``
        (``model_underperforming: ...``), else no production model."""
        if self._models is None:
            return no_model_reason("fx-default")
        return self._models.unavailable_reason(tenant_id) or no_model_reason(
            self._models.model_name
        )

    def size(
        self,
        tenant_id: str,
        decision: Decision,
        state: KeyState,
        bar: OHLCV,
        preferences: TradingPreferences,
        *,
        bid: float,
        ask: float,
    ) -> CheckedSignal:
        """Size at the tick's price with the forming bar's ATR, then the risk check."""
        atr = state.atr.peek_bar(bar.high, bar.low, bar.close)
        return size_and_check(
            decision,
            entry=ask if decision.action == "buy" else bid,
            atr=atr if math.isfinite(atr) else None,
            policy=self._policy,
            preferences=preferences,
            account=self._desk.snapshot_of(tenant_id),
            breaker=self._desk.book(tenant_id).breaker,
        )
