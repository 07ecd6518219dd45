"""Why an ML backtest made no trade: the notes ``chainflow backtest --strategy ml`` prints.

A model backtest with 0 trades is usually not a model that saw no edge but one that never
got the chance. ``no_trade_notes`` checks, in order, and says each cause that holds:

1. the model was trained on bars of another timeframe than the backtest's;
2. no bar was scored: fewer bars than the features' warm-up (plus the model's window), or
   no bar with every feature finite: the note names the features that are never finite,
   and when one is computed from a spread the bars lack, says how to give one (bars with
   a spread; the backtest's ``--spread`` is the fill cost and never reaches the features);
3. the model predicted ``flat`` on every scored bar;
4. every prediction stayed below the entry bar of the risk tolerance: the highest
   confidence and edge seen, next to the thresholds they had to reach.

When none holds (entries were wanted but none became a trade) the note says so with the
number of bars that cleared the bar.
"""

from __future__ import annotations

import numpy as np

from chainflow.backtest.ml_strategy import MlStrategy, feature_rows, with_known_spread
from chainflow.backtest.model_source import SPREAD_FEATURE_KINDS, RegisteredModel
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
            cause = _never_finite_cause(strategy, bars)
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


def _never_finite_cause(strategy: MlStrategy, bars: BarSeries) -> str:
    """Say which features are never finite on ``bars`` (as the strategy scored them) and,
    when one is computed from a spread the bars lack, how to give them one."""
    scored = bars
    if strategy.unknown_spread is not None:
        scored = with_known_spread(bars, strategy.unknown_spread)
    features = feature_rows(scored, strategy.feature_set)
    feature_set = get_feature_set(strategy.feature_set)
    columns = np.flatnonzero(~np.isfinite(features).any(axis=0))
    never = [feature_set.names[int(column)] for column in columns]
    cause = f"none of the {len(bars)} bars has every {strategy.feature_set} feature finite"
    if never:
        cause += f" ({', '.join(never)} never is)"
    spread_inputs = {
        spec.name for spec in feature_set.features if spec.kind in SPREAD_FEATURE_KINDS
    }
    if spread_inputs & set(never) and not bars.has_spread:
        cause += (
            ": the bars carry no spread and the model reads one; backtest it on bars with a "
            "spread (an MT5 bar export or a Spread column; the backtest's --spread is the "
            "fill cost and does not reach the features), or trade a model trained on bars "
            "without a spread"
        )
    return cause
