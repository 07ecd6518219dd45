"""Why an ML backtest made no trade: the notes ``chainflow backtest --strategy ml`` prints.

A model backtest with 0 trades is usually not a model that saw no edge but one that never
got the chance. ``no_trade_notes`` checks, in order, and says each cause that holds:

1. the model was trained on bars of another timeframe than the backtest's;
2. no bar was scored: fewer bars than the features' warm-up (plus the model's window), or
   no bar with every feature finite (``fx-core@1`` needs a known spread);
3. the model predicted ``flat`` on every scored bar;
4. every prediction stayed below the entry bar of the risk tolerance: the highest
   confidence and edge seen, next to the thresholds they had to reach.

When none holds (entries were wanted but none became a trade) the note says so with the
number of bars that cleared the bar.
"""

from __future__ import annotations

import numpy as np

from chainflow.backtest.ml_strategy import MlStrategy
from chainflow.backtest.model_source import RegisteredModel
from chainflow.core.market import BarSeries
from chainflow.features.api import get_feature_set

FLAT = 1


def no_trade_notes(model: RegisteredModel, strategy: MlStrategy, bars: BarSeries) -> list[str]:
    """Return why the backtest of ``model`` (run with ``strategy``) on ``bars`` made no trade."""
    notes: list[str] = []
    if model.timeframe and bars.timeframe and model.timeframe != bars.timeframe:
        notes.append(
            f"0 trades: model {model.ref} was trained on {model.timeframe} bars and these "
            f"are {bars.timeframe} bars (backtest it on {model.timeframe} bars, or train a "
            f"{bars.timeframe} model)"
        )
    probabilities = strategy.scored_probabilities
    if len(probabilities) == 0:
        warmup = get_feature_set(strategy.feature_set).warmup_bars
        needed = warmup + max(1, int(strategy.bundle.window)) - 1
        if len(bars) < needed:
            cause = (
                f"the {len(bars)} bars are fewer than the warm-up of {needed} bars "
                f"({strategy.feature_set} features"
                + (f", window {strategy.bundle.window}" if strategy.bundle.window > 1 else "")
                + ")"
            )
        else:
            cause = (
                f"none of the {len(bars)} bars has every {strategy.feature_set} feature "
                "finite (a bar file without a spread: give one with --spread or a Spread "
                "column)"
            )
        return [*notes, f"0 trades: no bar was scored: {cause}"]
    scored = len(probabilities)
    if np.all(np.argmax(probabilities, axis=1) == FLAT):
        return [*notes, f"0 trades: the model predicted flat on all {scored} scored bars"]
    thresholds = strategy.decider.thresholds
    down, up = probabilities[:, 0], probabilities[:, 2]
    edge = np.abs(up - down)
    confidence = np.where(up >= down, up, down)
    cleared = (edge >= thresholds.min_edge) & (confidence >= thresholds.min_confidence)
    if not np.any(cleared):
        return [
            *notes,
            f"0 trades: every prediction was below the entry bar ({thresholds.risk_tolerance}"
            f" risk tolerance) on all {scored} scored bars: the highest confidence was "
            f"{float(confidence.max()):.3f} (needs >= {thresholds.min_confidence:g}) and the "
            f"highest edge p(up) - p(down) {float(edge.max()):.3f} (needs >= "
            f"{thresholds.min_edge:g})",
        ]
    return [
        *notes,
        f"0 trades: {int(np.count_nonzero(cleared))} of {scored} scored bars cleared the "
        "entry bar, but none became a trade (cooldown, hysteresis or sizing held them)",
    ]
