"""Built-in indicator strategies: typed parameters, a batch signal array and ``on_bar``.

Each strategy turns bars into actions decided at each bar's close: ``1`` buy (be long),
``-1`` sell (be short, or flat when long-only), ``0`` hold. ``signals(bars)`` computes
the whole array in one batch with ``chainflow.features.batch`` (TA-Lib-checked, NaN
warm-up, so no action during warm-up); the value at bar ``i`` depends only on bars up to
``i``. ``on_bar`` serves the same actions one bar at a time: after ``prepare(bars)`` it
reads the batch array, otherwise (live) it recomputes the batch over the bars it has
seen (at most ``max_history``).

Crossovers follow backtesting.py's ``crossover``: ``a`` crosses above ``b`` at bar ``i``
when ``a[i-1] < b[i-1]`` and ``a[i] > b[i]``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chainflow.backtest.errors import BacktestCheckpointMismatchError
from chainflow.core.market import BarRow, BarSeries
from chainflow.features.batch.averages import ema, sma
from chainflow.features.batch.momentum import macd, rsi
from chainflow.features.batch.volatility import bbands, donchian
from chainflow.trading.api import Action, Decision, StrategyContext

ACTIONS: dict[int, Action] = {1: "buy", -1: "sell", 0: "hold"}
Signals = NDArray[np.int8]


class StrategyParams(BaseModel):
    """Base of every built-in strategy's parameters: frozen, unknown names rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def warm_up_bars(self) -> int:
        """Return the bars the indicators need before a first action can come: the sum of
        the integer periods (``slow + signal`` for MACD), at least 1."""
        periods = [v for k, v in self if isinstance(v, int) and k != "fast"]
        return max(1, sum(periods))


class CrossoverParams(StrategyParams):
    fast: int = Field(10, ge=2, description="fast moving-average period (bars)")
    slow: int = Field(30, ge=3, description="slow moving-average period (bars)")

    @model_validator(mode="after")
    def fast_below_slow(self) -> CrossoverParams:
        if self.fast >= self.slow:
            raise ValueError(f"expected fast < slow; received fast={self.fast}, slow={self.slow}")
        return self


class RsiParams(StrategyParams):
    period: int = Field(14, ge=2, description="RSI period (bars)")
    lower: float = Field(30.0, gt=0, lt=100, description="buy below this RSI")
    upper: float = Field(70.0, gt=0, lt=100, description="sell above this RSI")

    @model_validator(mode="after")
    def lower_below_upper(self) -> RsiParams:
        if self.lower >= self.upper:
            raise ValueError(
                f"expected lower < upper; received lower={self.lower}, upper={self.upper}"
            )
        return self


class BollingerParams(StrategyParams):
    period: int = Field(20, ge=2, description="band period (bars)")
    k: float = Field(2.0, gt=0, le=10, description="band width in standard deviations")


class MacdParams(StrategyParams):
    fast: int = Field(12, ge=2, description="fast EMA period")
    slow: int = Field(26, ge=3, description="slow EMA period")
    signal: int = Field(9, ge=1, description="signal-line EMA period")

    @model_validator(mode="after")
    def fast_below_slow(self) -> MacdParams:
        if self.fast >= self.slow:
            raise ValueError(f"expected fast < slow; received fast={self.fast}, slow={self.slow}")
        return self


class DonchianParams(StrategyParams):
    period: int = Field(20, ge=2, description="channel period (bars before the current one)")


def crossings(a: NDArray[np.float64], b: NDArray[np.float64]) -> Signals:
    """Return 1 where ``a`` crosses above ``b``, -1 where it crosses below, else 0."""
    out = np.zeros(len(a), dtype=np.int8)
    if len(a) < 2:
        return out
    before, now = a[:-1] - b[:-1], a[1:] - b[1:]
    out[1:][(before < 0) & (now > 0)] = 1
    out[1:][(before > 0) & (now < 0)] = -1
    return out


def levels(buy: NDArray[np.bool_], sell: NDArray[np.bool_]) -> Signals:
    """Return 1 where ``buy``, -1 where ``sell`` (and not ``buy``), else 0."""
    out = np.zeros(len(buy), dtype=np.int8)
    out[sell] = -1
    out[buy] = 1
    return out


DECISION_FIELDS = ("symbol", "ts", "model", "action", "confidence", "edge", "reasons", "gate")
if tuple(f.name for f in fields(Decision)) != DECISION_FIELDS:  # new_decision sets each
    raise TypeError(f"expected Decision fields {DECISION_FIELDS}; update new_decision")
_SETTERS = tuple(getattr(Decision, name).__set__ for name in DECISION_FIELDS)


def new_decision(
    symbol: str,
    ts: int,
    model: str,
    action: int,
    *,
    _new: Any = object.__new__,
    _symbol: Any = _SETTERS[0],
    _ts: Any = _SETTERS[1],
    _model: Any = _SETTERS[2],
    _action: Any = _SETTERS[3],
    _confidence: Any = _SETTERS[4],
    _edge: Any = _SETTERS[5],
    _reasons: Any = _SETTERS[6],
    _gate: Any = _SETTERS[7],
) -> Decision:
    """Return ``Decision(symbol, ts, model, ACTIONS[action], confidence 1 or 0, edge 0, ())``.

    It fills the frozen dataclass's slots directly: about half the time of its
    ``__init__``, which matters once per bar.
    """
    decision = _new(Decision)
    _symbol(decision, symbol)
    _ts(decision, ts)
    _model(decision, model)
    _action(decision, ACTIONS[action])
    _confidence(decision, 1.0 if action else 0.0)
    _edge(decision, 0.0)
    _reasons(decision, ())
    _gate(decision, None)
    return decision


def bars_of(history: list[BarRow], symbol: str) -> BarSeries:
    """Return ``history`` as ``BarSeries``."""
    columns = np.array(
        [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in history], dtype=np.float64
    ).reshape(-1, 6)
    return BarSeries.from_arrays(
        ts=columns[:, 0].astype(np.int64),
        open=columns[:, 1],
        high=columns[:, 2],
        low=columns[:, 3],
        close=columns[:, 4],
        volume=columns[:, 5],
        symbol=symbol,
    )


class IndicatorStrategy:
    """A strategy defined by a batch ``signals`` function; see the module docstring."""

    name: ClassVar[str] = "indicator"
    params_model: ClassVar[type[StrategyParams]] = StrategyParams
    vectorizable: ClassVar[bool] = True
    # on_bar keeps no reference to its context or bar (history stores copies): an engine
    # may pass one context, updated in place, on every call (``backtest/engine.py``).
    borrows_context: ClassVar[bool] = True
    max_history: int = 5_000

    def __init__(self, params: StrategyParams | None = None, **values: Any) -> None:
        self.params = params if params is not None else self.params_model(**values)
        self._actions: list[int] = []
        self._times: list[int] = []
        self._cursor = 0
        self._history: list[BarRow] = []

    def signals(self, bars: BarSeries) -> Signals:
        """Return the action of every bar (1 buy, -1 sell, 0 hold), decided at its close."""
        raise NotImplementedError

    def prepare(self, bars: BarSeries) -> None:
        """Compute the actions of ``bars`` in one batch for the ``on_bar`` calls that follow."""
        self._actions = self.signals(bars).tolist()
        self._times = bars.ts.tolist()
        self._cursor = 0

    def on_bar(self, context: StrategyContext) -> Decision:
        """Return the decision at the closed bar ``context.bar``."""
        bar = context.bar
        if bar is None:
            raise ValueError(f"strategy {self.name!r} expected a bar; received None")
        ts, cursor, times = bar.ts, self._cursor, self._times
        if cursor < len(times) and times[cursor] == ts:
            action = self._actions[cursor]
            self._cursor = cursor + 1
        else:
            self._actions, self._times = [], []
            self._history.append(
                BarRow(ts, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.spread)
            )
            del self._history[: -self.max_history]
            action = int(self.signals(bars_of(self._history, context.symbol))[-1])
        return new_decision(context.symbol, ts, self.name, action)

    def snapshot(self) -> dict[str, Any]:
        """Return the bars seen live (the only state) as JSON-ready data."""
        rows = [[b.ts, b.open, b.high, b.low, b.close, b.volume] for b in self._history]
        return {"name": self.name, "params": self.params.model_dump(), "history": rows}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from ``snapshot``; it must come from a strategy with this name."""
        if snapshot.get("name") != self.name:
            raise BacktestCheckpointMismatchError(
                f"expected a snapshot of strategy {self.name!r}; "
                f"received one of {snapshot.get('name')!r}"
            )
        self._history = [BarRow(*row) for row in snapshot.get("history", [])]


class SmaCrossover(IndicatorStrategy):
    """Buy when SMA(fast) crosses above SMA(slow), sell when it crosses below."""

    name = "sma_crossover"
    params_model = CrossoverParams

    def signals(self, bars: BarSeries) -> Signals:
        p: Any = self.params
        if len(bars) < p.slow:
            return np.zeros(len(bars), dtype=np.int8)
        return crossings(sma(bars.close, p.fast), sma(bars.close, p.slow))


class EmaCrossover(IndicatorStrategy):
    """Buy when EMA(fast) crosses above EMA(slow), sell when it crosses below."""

    name = "ema_crossover"
    params_model = CrossoverParams

    def signals(self, bars: BarSeries) -> Signals:
        p: Any = self.params
        if len(bars) < p.slow:
            return np.zeros(len(bars), dtype=np.int8)
        return crossings(ema(bars.close, p.fast), ema(bars.close, p.slow))


class RsiMeanReversion(IndicatorStrategy):
    """Buy while RSI(period) is below ``lower``, sell while it is above ``upper``."""

    name = "rsi_mean_reversion"
    params_model = RsiParams

    def signals(self, bars: BarSeries) -> Signals:
        p: Any = self.params
        if len(bars) <= p.period:
            return np.zeros(len(bars), dtype=np.int8)
        value = rsi(bars.close, p.period)
        return levels(value < p.lower, value > p.upper)


class BollingerBreakout(IndicatorStrategy):
    """Buy on a close above the upper band, sell on a close below the lower band."""

    name = "bollinger_breakout"
    params_model = BollingerParams

    def signals(self, bars: BarSeries) -> Signals:
        p: Any = self.params
        upper, _, lower = bbands(bars.close, p.period, p.k)
        return levels(bars.close > upper, bars.close < lower)


class MacdCrossover(IndicatorStrategy):
    """Buy when the MACD line crosses above its signal line, sell when it crosses below."""

    name = "macd"
    params_model = MacdParams

    def signals(self, bars: BarSeries) -> Signals:
        p: Any = self.params
        line, signal, _ = macd(bars.close, p.fast, p.slow, p.signal)
        return crossings(line, signal)


class DonchianBreakout(IndicatorStrategy):
    """Buy on a close above the previous ``period`` bars' high, sell below their low."""

    name = "donchian_breakout"
    params_model = DonchianParams

    def signals(self, bars: BarSeries) -> Signals:
        p: Any = self.params
        upper, _, lower = donchian(bars.high, bars.low, p.period)
        previous_upper = np.concatenate(([np.nan], upper[:-1]))
        previous_lower = np.concatenate(([np.nan], lower[:-1]))
        return levels(bars.close > previous_upper, bars.close < previous_lower)


BUILT_IN_STRATEGIES: tuple[type[IndicatorStrategy], ...] = (
    SmaCrossover,
    EmaCrossover,
    RsiMeanReversion,
    BollingerBreakout,
    MacdCrossover,
    DonchianBreakout,
)
