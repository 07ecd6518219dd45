"""Per-window retraining of the ML strategy for walk-forward analysis.

``WindowModelTrainer`` is a ``walkforward.ModelTrainer``: given a window's in-sample bars
it fits the light model of ``chainflow.ml.api.train_window_model`` on those bars alone and
returns a builder of ``MlStrategy`` instances trading it. The ml side keeps only rows whose
label ends inside the bars it was given, so no model sees bars of its test block.

In-sample bars without any spread (an OHLCV CSV) are trained with a spread of 0 (the ml
side drops the dead spread features and its bundle still takes the full feature vector);
the strategy then scores with the same 0 where a bar's spread is unknown, so training and
scoring see the same features and the out-of-sample bars get predictions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.ml_strategy import MlStrategy, with_known_spread
from chainflow.backtest.walkforward import TrainedModel
from chainflow.core.market import BarSeries
from chainflow.ml.api import train_window_model
from chainflow.trading.api import TradingPreferences

ML_STRATEGY = "ml"
"""The strategy name that means: retrain the ML model per walk-forward window."""
TRAINER_PARAMS = ("horizon", "threshold_atr")
DEAD_SPREAD = 0.0
"""The spread of in-sample bars without one, in training and then in scoring."""


class WindowModelTrainer:
    """Train the ML strategy's model on each window's in-sample bars only."""

    def __init__(
        self,
        *,
        horizon: int = 12,
        threshold_atr: float = 0.5,
        threads: int = 1,
        preferences: TradingPreferences | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.horizon = horizon
        self.threshold_atr = threshold_atr
        self.threads = threads
        self.preferences = preferences
        self.params = dict(params or {})

    def __call__(self, bars: BarSeries, *, seed: int) -> TrainedModel:
        """Fit on ``bars`` and return the builder of strategies trading the fitted model."""
        unknown_spread = None if bars.has_spread else DEAD_SPREAD
        if unknown_spread is not None:
            bars = with_known_spread(bars, unknown_spread)  # the bars the strategy scores
        model = train_window_model(
            ts=bars.ts,
            open=bars.open,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            volume=bars.volume,
            spread=bars.spread,
            horizon=self.horizon,
            threshold_atr=self.threshold_atr,
            seed=seed,
            threads=self.threads,
        )
        name = f"window-{model.train_from_ts}-{model.label_end_ts}"

        def build() -> MlStrategy:
            return MlStrategy.from_bundle(
                model.bundle,
                self.preferences,
                feature_set=model.feature_set,
                model=name,
                unknown_spread=unknown_spread,
            )

        return TrainedModel(
            build=build,
            train_from_ts=model.train_from_ts,
            train_to_ts=model.train_to_ts,
            label_end_ts=model.label_end_ts,
            rows=model.rows,
        )


def trainer_from_params(raw: Mapping[str, Any]) -> WindowModelTrainer:
    """Return a trainer from ``horizon``/``threshold_atr`` parameters (strings allowed);
    raise ``ValueError`` for any other parameter or a bad value."""
    unknown = sorted(set(raw) - set(TRAINER_PARAMS))
    if unknown:
        raise InvalidBacktestInputError(
            f"expected parameters of {ML_STRATEGY!r} among {list(TRAINER_PARAMS)}; "
            f"received unknown {unknown}"
        )
    horizon = int(raw.get("horizon", 12))
    threshold = float(raw.get("threshold_atr", 0.5))
    if horizon < 1 or not threshold > 0:
        raise InvalidBacktestInputError(
            f"expected horizon >= 1 and threshold_atr > 0; received {horizon} and {threshold}"
        )
    return WindowModelTrainer(horizon=horizon, threshold_atr=threshold)
