"""What the ml service remembers per (tenant, symbol, timeframe), and how it scores.

- the last ``window`` feature vectors (sequence models read a window);
- the last bars (open, high, low, close) and a streaming ATR(14) of them: the candlestick
  and chart patterns the newest bar completes, and the ATR that scoring compares a move
  with;
- the predictions still waiting for their horizon. A prediction made at bar ``t`` with
  horizon ``h`` is scored at bar ``t + h`` exactly as its training labels were made
  (``chainflow.ml.training.labels.direction_labels``): the log return close[t+h]/close[t] against
  ±threshold·ATR[t]/close[t] gives down, flat or up.

Everything here is a function of stored bars, vectors and predictions, so the service
rebuilds it after a restart (``KeyState.warm``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from chainflow.features.stream.volatility import ATR
from chainflow.ml.patterns.candlesticks import detect_candlesticks
from chainflow.ml.patterns.chart_patterns import detect_chart_patterns
from chainflow.ml.training.labels import DOWN, FLAT, UP

BARS_KEPT = 64
VECTORS_KEPT = 64  # at least the longest window plus the longest horizon scored
CHART_MIN_BARS = 30
ATR_PERIOD = 14


@dataclass(slots=True)
class PendingPrediction:
    ts: int
    model: str
    probabilities: tuple[float, float, float]
    close: float
    atr: float
    horizon: int
    threshold_atr: float
    kind: str = "direction"  # or "triple_barrier"


@dataclass(slots=True)
class KeyState:
    """The live memory of one symbol in one timeframe for one tenant."""

    window: int
    vectors: deque[tuple[int, np.ndarray]] = field(init=False)
    bars: deque[tuple[int, float, float, float, float]] = field(init=False)
    atr: ATR = field(init=False)
    atr_value: float = math.nan
    pending: list[PendingPrediction] = field(default_factory=list)
    warmed: bool = False

    def __post_init__(self) -> None:
        self.vectors = deque(maxlen=max(self.window, VECTORS_KEPT))
        self.bars = deque(maxlen=BARS_KEPT)
        self.atr = ATR(ATR_PERIOD)

    @property
    def last_ts(self) -> int | None:
        return self.bars[-1][0] if self.bars else None

    def add_bar(self, ts: int, open_: float, high: float, low: float, close: float) -> None:
        """Add a closed bar (ignored if not after the last one)."""
        if self.bars and ts <= self.bars[-1][0]:
            return
        self.bars.append((ts, open_, high, low, close))
        self.atr_value = self.atr.update_bar(high, low, close)

    def add_vector(self, ts: int, values: np.ndarray) -> None:
        if self.vectors and ts <= self.vectors[-1][0]:
            return
        self.vectors.append((ts, values))

    def window_matrix(self) -> np.ndarray | None:
        """Return the last ``window`` vectors ``(window, k)`` if they are consecutive bars."""
        if len(self.vectors) < self.window:
            return None
        return np.stack([v for _, v in list(self.vectors)[-self.window :]])

    def patterns(self) -> list[str]:
        """Return the candlestick patterns the newest bar completes (``name:bullish`` ...)."""
        if len(self.bars) < 3:
            return []
        rows = np.array([b[1:] for b in list(self.bars)[-20:]], dtype=np.float64)
        found = []
        for name, flags in detect_candlesticks(
            rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        ).items():
            last = flags[-1]
            if flags.dtype == bool:
                if last:
                    found.append(name)
            elif last != 0:
                found.append(f"{name}:{'bullish' if last > 0 else 'bearish'}")
        if len(self.bars) >= CHART_MIN_BARS:
            rows = np.array([b[1:] for b in self.bars], dtype=np.float64)
            for pattern in detect_chart_patterns(rows[:, 1], rows[:, 2], rows[:, 3]):
                if pattern.end_index == len(rows) - 1:  # confirmed by the newest bar
                    found.append(
                        f"{pattern.kind}:{'bullish' if pattern.direction > 0 else 'bearish'}"
                    )
        return found

    def window_ending(self, ts: int, window: int) -> np.ndarray | None:
        """Return the ``window`` vectors ending at bar ``ts`` ``(window, k)``, if held."""
        held = list(self.vectors)
        ends = [i for i, (vts, _) in enumerate(held) if vts == ts]
        if not ends or ends[0] + 1 < window:
            return None
        return np.stack([v for _, v in held[ends[0] + 1 - window : ends[0] + 1]])

    def due(self) -> list[tuple[PendingPrediction, int, float]]:
        """Remove and return the pending predictions whose horizon has passed, with the
        realized class (down 0, flat 1, up 2) and the forward log return."""
        if not self.bars:
            return []
        index = {ts: i for i, (ts, *_rest) in enumerate(self.bars)}
        done, waiting = [], []
        for p in self.pending:
            start = index.get(p.ts)
            if start is None and p.ts < self.bars[0][0]:
                continue  # older than the bars kept: can no longer be scored
            if start is not None and start + p.horizon < len(self.bars):
                later = list(self.bars)[start + 1 : start + p.horizon + 1]
                move = math.log(later[-1][4] / p.close)
                done.append((p, realized_class(p, later), move))
            else:
                waiting.append(p)
        self.pending = waiting
        return done


def realized_class(
    prediction: PendingPrediction, later: list[tuple[int, float, float, float, float]]
) -> int:
    """Return what happened over the ``horizon`` bars ``later`` (ts, open, high, low, close)
    exactly as the training labels (``chainflow.ml.training.labels``) were made."""
    close_t, atr_t = prediction.close, prediction.atr
    if prediction.kind == "triple_barrier":
        upper = close_t + prediction.threshold_atr * atr_t
        lower = close_t - prediction.threshold_atr * atr_t
        for _ts, _open, high, low, _close in later:
            hit_up, hit_down = high >= upper, low <= lower
            if hit_up or hit_down:
                return FLAT if hit_up and hit_down else (UP if hit_up else DOWN)
        return FLAT
    move = math.log(later[-1][4] / close_t)
    band = prediction.threshold_atr * atr_t / close_t
    if move > band:
        return UP
    if move < -band:
        return DOWN
    return FLAT
