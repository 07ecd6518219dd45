"""The ML strategy: a model bundle's predictions fed to the live ``ModelStrategy``.

Two parts, so that the walk-forward can retrain per window and reuse the rest:

- ``feature_rows`` computes the feature matrix of the bars (``fx-core@1`` by default) with
  ``chainflow.features``; every row uses only bars up to its own (the features' no-lookahead
  guarantee), so scoring all rows at once is the same as scoring them one by one.
- ``PredictionStrategy`` is model-independent: given per-bar probabilities (down, flat,
  up), expected volatility and momentum, it builds each bar's ``DecisionInput`` and runs the
  live ``ModelStrategy`` (``synthesize`` + ``SignalStabilizer``) with the position the
  engine reports. Bars without a prediction are ``hold``: as live, a row is scored only
  when all its features are finite (warm-up; ``fx-core@1`` also needs a known spread).
- ``MlStrategy.from_bundle(bundle, preferences)`` scores a bundle on the bars in
  ``prepare`` and then behaves as a ``PredictionStrategy``. ``unknown_spread`` is the
  spread the features see on a bar whose spread is unknown: ``None`` (a registered model)
  leaves it unknown, as live; a model trained on bars without a spread (a spread of 0,
  its spread features dropped) is scored on the same 0 (``WindowModelTrainer``).

A bundle is anything with ``window``, ``n_features`` and ``predict(features)`` answering
``probabilities``, ``volatility`` and ``momentum`` (``chainflow.ml``'s ``ModelBundle``).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.core.market import BarSeries
from chainflow.features.api import feature_matrix, get_feature_set
from chainflow.trading.api import (
    Decision,
    DecisionInput,
    ModelStrategy,
    StrategyContext,
    TradingPreferences,
)

DEFAULT_FEATURE_SET = "fx-core@1"


class BundlePrediction(Protocol):
    @property
    def probabilities(self) -> NDArray[Any]: ...
    @property
    def volatility(self) -> NDArray[Any]: ...
    @property
    def momentum(self) -> NDArray[Any]: ...


class PredictorBundle(Protocol):
    """The part of ``chainflow.ml``'s ``ModelBundle`` the backtester uses."""

    window: int
    n_features: int

    def predict(self, features: ArrayLike) -> BundlePrediction: ...


def feature_rows(
    bars: BarSeries, feature_set: str = DEFAULT_FEATURE_SET, threads: int = 0
) -> NDArray[np.float64]:
    """Return the ``(len(bars), k)`` feature matrix of ``bars`` (NaN during warm-up)."""
    return feature_matrix(get_feature_set(feature_set), bars, threads=threads)


def with_known_spread(bars: BarSeries, spread: float) -> BarSeries:
    """Return ``bars`` with ``spread`` on every bar whose spread is unknown (NaN)."""
    if not bool(np.isnan(bars.spread).any()):
        return bars
    return BarSeries.from_arrays(
        ts=bars.ts,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=bars.volume,
        spread=np.where(np.isnan(bars.spread), spread, bars.spread),
        symbol=bars.symbol,
        timeframe=bars.timeframe,
    )


def predict_rows(
    bundle: PredictorBundle, features: NDArray[np.float64], batch_size: int = 4096
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Score every row whose (window of) features is finite; NaN rows elsewhere.

    Returns probabilities ``(n, 3)``, volatility ``(n,)`` and momentum ``(n,)``.
    """
    n, k = features.shape
    if k != bundle.n_features:
        raise InvalidBacktestInputError(
            f"expected a bundle for {k} features; received one for {bundle.n_features}"
        )
    window = max(1, int(bundle.window))
    finite = np.all(np.isfinite(features), axis=1)
    if window > 1:
        run = np.convolve(finite.astype(np.int64), np.ones(window, dtype=np.int64))[:n]
        valid = run == window
    else:
        valid = finite
    rows = np.flatnonzero(valid)
    probabilities = np.full((n, 3), np.nan)
    volatility = np.full(n, np.nan)
    momentum = np.full(n, np.nan)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        if window > 1:
            batch = np.stack([features[i - window + 1 : i + 1] for i in chunk])
        else:
            batch = features[chunk]
        out = bundle.predict(batch)
        p = np.asarray(out.probabilities, dtype=np.float64)
        probabilities[chunk] = p / p.sum(axis=1, keepdims=True)
        volatility[chunk] = np.asarray(out.volatility, dtype=np.float64).reshape(-1)
        momentum[chunk] = np.asarray(out.momentum, dtype=np.float64).reshape(-1)
    return probabilities, volatility, momentum


class PredictionStrategy:
    """Trade per-bar model predictions with the live ``ModelStrategy`` (model-independent)."""

    vectorizable = False

    def __init__(
        self,
        preferences: TradingPreferences | None = None,
        *,
        model: str = "model",
        name: str = "ml",
        ts: NDArray[np.int64] | None = None,
        probabilities: NDArray[np.float64] | None = None,
        volatility: NDArray[np.float64] | None = None,
        momentum: NDArray[np.float64] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.preferences = preferences or TradingPreferences()
        self.decider = ModelStrategy(self.preferences, name=name)
        self._rows: dict[int, int] = {}
        self._probabilities: list[list[float]] = []
        self._volatility: list[float] = []
        self._momentum: list[float] = []
        self._scored: NDArray[np.float64] = np.empty((0, 3))
        if ts is not None and probabilities is not None:
            n = len(ts)
            self.set_predictions(
                ts,
                probabilities,
                np.zeros(n) if volatility is None else volatility,
                np.zeros(n) if momentum is None else momentum,
            )

    def set_predictions(
        self,
        ts: NDArray[np.int64],
        probabilities: NDArray[np.float64],
        volatility: NDArray[np.float64],
        momentum: NDArray[np.float64],
    ) -> None:
        """Use these predictions, one per bar open time ``ts`` (NaN rows mean none)."""
        if np.shape(probabilities) != (len(ts), 3):
            raise ValueError(
                f"expected probabilities of shape ({len(ts)}, 3); "
                f"received {np.shape(probabilities)}"
            )
        self._rows = {int(t): i for i, t in enumerate(np.asarray(ts).tolist())}
        self._scored = np.asarray(probabilities, dtype=np.float64)
        self._probabilities = self._scored.tolist()
        self._volatility = np.asarray(volatility, dtype=np.float64).tolist()
        self._momentum = np.asarray(momentum, dtype=np.float64).tolist()

    @property
    def scored_probabilities(self) -> NDArray[np.float64]:
        """Return the (down, flat, up) rows of the bars that got a prediction."""
        return self._scored[np.all(np.isfinite(self._scored), axis=1)]

    def decision_input(self, symbol: str, ts: int) -> DecisionInput | None:
        """Return the prediction of the bar opened at ``ts`` as a ``DecisionInput``."""
        row = self._rows.get(ts)
        if row is None:
            return None
        p = self._probabilities[row]
        if not all(math.isfinite(x) for x in p):
            return None
        volatility, momentum = self._volatility[row], self._momentum[row]
        return DecisionInput(
            symbol=symbol,
            ts=ts,
            probabilities=(p[0], p[1], p[2]),
            model=self.model,
            expected_volatility=volatility if math.isfinite(volatility) else 0.0,
            momentum=momentum if math.isfinite(momentum) else 0.0,
        )

    def on_bar(self, context: StrategyContext) -> Decision:
        """Return the ``ModelStrategy`` decision on this bar's prediction (hold without one)."""
        decision_input = context.decision_input
        if decision_input is None and context.bar is not None:
            decision_input = self.decision_input(context.symbol, context.bar.ts)
        if decision_input is None:
            return Decision(
                symbol=context.symbol,
                ts=context.ts,
                model=self.model,
                action="hold",
                confidence=0.0,
                edge=0.0,
                reasons=("no prediction",),
            )
        return self.decider.on_bar(
            StrategyContext(
                decision_input=decision_input, position=context.position, bar=context.bar
            )
        )

    def snapshot(self) -> dict[str, Any]:
        """Return the decider's state (predictions are inputs, not state)."""
        return self.decider.snapshot()

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from ``snapshot`` of a strategy with this name."""
        self.decider.restore(snapshot)


class MlStrategy(PredictionStrategy):
    """Score an ONNX model bundle on the bars' features and trade it with ``ModelStrategy``."""

    def __init__(
        self,
        bundle: PredictorBundle,
        preferences: TradingPreferences | None = None,
        *,
        feature_set: str = DEFAULT_FEATURE_SET,
        model: str = "model",
        name: str = "ml",
        unknown_spread: float | None = None,
    ) -> None:
        super().__init__(preferences, model=model, name=name)
        self.bundle = bundle
        self.feature_set = feature_set
        self.unknown_spread = unknown_spread

    @classmethod
    def from_bundle(
        cls,
        bundle: PredictorBundle,
        preferences: TradingPreferences | None = None,
        *,
        feature_set: str = DEFAULT_FEATURE_SET,
        model: str = "model",
        unknown_spread: float | None = None,
    ) -> MlStrategy:
        """Return the strategy of ``bundle`` (fed ``feature_set`` rows) for ``preferences``;
        ``unknown_spread`` is the spread its features see where a bar's is unknown."""
        return cls(
            bundle,
            preferences,
            feature_set=feature_set,
            model=model,
            unknown_spread=unknown_spread,
        )

    def prepare(self, bars: BarSeries) -> None:
        """Compute the features of ``bars`` and score the bundle on every row once."""
        if self.unknown_spread is not None:
            bars = with_known_spread(bars, self.unknown_spread)
        features = feature_rows(bars, self.feature_set)
        probabilities, volatility, momentum = predict_rows(self.bundle, features)
        self.set_predictions(bars.ts, probabilities, volatility, momentum)
