"""Public interface of the backtesting engine: what the CLI, HTTP jobs and optimizer use.

``run_backtest`` runs a built-in strategy by name (with typed, validated parameters) or any
``chainflow.trading`` ``Strategy`` object (such as ``MlStrategy``) on a
``core.market.BarSeries``. Built-in strategies take the vectorized path by default;
everything else runs on the event engine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from chainflow.backtest.engine import run_event
from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.metrics import (
    AccountTotals,
    compute_metrics,
    drawdown_curve,
    infer_periods_per_year,
    sample_warnings,
)
from chainflow.backtest.ml_strategy import MlStrategy, PredictionStrategy, feature_rows
from chainflow.backtest.search_space import Dimension, Range
from chainflow.backtest.strategies import (
    BUILT_IN_STRATEGIES,
    IndicatorStrategy,
    StrategyParams,
)
from chainflow.backtest.types import BacktestConfig, BacktestResult, Trade
from chainflow.backtest.vectorized import run_signals
from chainflow.core.market import BarSeries
from chainflow.trading.api import Strategy

EngineChoice = Literal["auto", "event", "vectorized"]


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """A built-in strategy: its name, parameter model, description and whether it vectorizes."""

    name: str
    params: type[StrategyParams]
    description: str
    vectorizable: bool
    factory: type[IndicatorStrategy]

    def build(self, params: Mapping[str, Any] | None = None) -> IndicatorStrategy:
        """Return a strategy instance with validated ``params`` (defaults for the missing)."""
        return self.factory(self.params(**dict(params or {})))


STRATEGIES: Mapping[str, StrategySpec] = MappingProxyType(
    {
        cls.name: StrategySpec(
            name=cls.name,
            params=cls.params_model,
            description=(cls.__doc__ or "").strip().splitlines()[0],
            vectorizable=cls.vectorizable,
            factory=cls,
        )
        for cls in BUILT_IN_STRATEGIES
    }
)


def strategy_spec(strategy: str) -> StrategySpec:
    """Return the spec of built-in ``strategy``, or raise ``ValueError`` naming the choices."""
    spec = STRATEGIES.get(strategy)
    if spec is None:
        raise InvalidBacktestInputError(
            f"expected a strategy among {sorted(STRATEGIES)}; received {strategy!r}"
        )
    return spec


def parse_params(strategy: str, raw: Mapping[str, str | int | float]) -> dict[str, Any]:
    """Return ``raw`` validated against ``strategy``'s parameters (strings are coerced).

    Missing parameters take their defaults. An unknown strategy or parameter, or a value
    that fails validation, raises ``ValueError`` naming what is allowed.
    """
    spec = strategy_spec(strategy)
    allowed = sorted(spec.params.model_fields)
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise InvalidBacktestInputError(
            f"expected parameters of {strategy!r} among {allowed}; received unknown {unknown}"
        )
    try:
        return spec.params(**dict(raw)).model_dump()
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'params'}: {err['msg']}" for err in e.errors()
        )
        raise InvalidBacktestInputError(
            f"expected valid parameters of {strategy!r} {allowed}; received {dict(raw)} "
            f"({problems})"
        ) from e


def fit_space(strategy: str, space: Mapping[str, Dimension]) -> dict[str, Dimension]:
    """Return ``space`` checked against built-in ``strategy``'s parameters: an unknown name
    raises ``ValueError``; a continuous ``Range`` of an integer parameter becomes its
    integers (``ceil(low)`` to ``floor(high)``, step 1), so no trial gets a fraction."""
    fields = strategy_spec(strategy).params.model_fields
    unknown = sorted(set(space) - set(fields))
    if unknown:
        raise InvalidBacktestInputError(
            f"expected searched parameters of {strategy!r} among {sorted(fields)}; "
            f"received unknown {unknown}"
        )
    fitted = dict(space)
    for name, dim in space.items():
        if isinstance(dim, Range) and dim.step is None and fields[name].annotation is int:
            low, high = math.ceil(dim.low), math.floor(dim.high)
            if high < low:
                raise InvalidBacktestInputError(
                    f"expected an integer in the range of {name!r}; received {dim.low}:{dim.high}"
                )
            fitted[name] = Range(low, high, 1)
    return fitted


def check_bar_count(strategy: str, params: Mapping[str, Any], n_bars: int) -> None:
    """Raise ``ValueError`` when ``n_bars`` cannot get past built-in ``strategy``'s warm-up
    (a backtest on them could never trade)."""
    needed = strategy_spec(strategy).params(**dict(params)).warm_up_bars()
    if n_bars <= needed:
        raise InvalidBacktestInputError(
            f"expected more than {needed} bars for {strategy} {dict(params)} (its indicators' "
            f"warm-up); received {n_bars}"
        )


def load_compiled(strategy: str, params: Mapping[str, Any], engine: EngineChoice) -> None:
    """Run built-in ``strategy`` once, untimed, on a small synthetic series so that the
    compiled code (numba's cache) is loaded before a timed run: ``elapsed_s`` then times
    the simulation alone, as ``benchmarks/backtest.py`` does with its warm-up run."""
    n = 2 * strategy_spec(strategy).params(**dict(params)).warm_up_bars() + 64
    close = 1.0 + 0.001 * np.sin(np.arange(n) / 7.0)
    bars = BarSeries.from_arrays(
        ts=np.arange(n, dtype=np.int64) * 60_000,
        open=close,
        high=close + 0.0005,
        low=close - 0.0005,
        close=close,
        volume=np.ones(n),
    )
    run_backtest(bars, strategy, params, BacktestConfig(), engine=engine)


def run_backtest(
    bars: BarSeries,
    strategy: str | Strategy,
    params: Mapping[str, Any] | None = None,
    config: BacktestConfig = BacktestConfig(),  # noqa: B008 - frozen, so safe to share
    *,
    engine: EngineChoice = "auto",
    trade_from: int = 0,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` and return trades, equity and metrics.

    ``strategy`` is a built-in name (``STRATEGIES``; ``params`` validated by
    ``parse_params``) or a ``Strategy`` object (``params`` is then only recorded).
    ``engine="auto"`` takes the vectorized path for strategies with a batch ``signals``
    array (the built-ins) and the event engine otherwise; both give the same trades.
    Bars before ``trade_from`` only warm the strategy up: no order fills before bar
    ``trade_from`` and the curve, trades and metrics start there.
    """
    if engine not in ("auto", "event", "vectorized"):
        raise InvalidBacktestInputError(
            f"expected engine 'auto', 'event' or 'vectorized'; received {engine!r}"
        )
    started = time.perf_counter()
    if isinstance(strategy, str):
        checked = parse_params(strategy, params or {})
        instance: Any = strategy_spec(strategy).build(checked)
    else:
        checked = dict(params or {})
        instance = strategy
    name = str(getattr(instance, "name", type(instance).__name__))
    vectorizable = bool(getattr(instance, "vectorizable", False)) and callable(
        getattr(instance, "signals", None)
    )
    notes: list[str] = []
    if engine == "vectorized" and not vectorizable:
        raise InvalidBacktestInputError(
            f"expected a strategy with a batch signals array for the vectorized engine; "
            f"received {name!r} (use engine='event' or 'auto')"
        )
    if engine == "auto" and not vectorizable:
        notes.append(f"strategy {name!r} has no batch signals array: ran on the event engine")
    if engine == "event" or not vectorizable:
        return run_event(bars, instance, config, params=checked, notes=notes, trade_from=trade_from)
    signals = instance.signals(bars)
    return run_signals(
        bars,
        signals,
        config,
        strategy=name,
        params=checked,
        notes=notes,
        started=started,
        trade_from=trade_from,
    )


__all__ = [
    "STRATEGIES",
    "AccountTotals",
    "BacktestConfig",
    "BacktestResult",
    "EngineChoice",
    "MlStrategy",
    "PredictionStrategy",
    "StrategySpec",
    "Trade",
    "check_bar_count",
    "compute_metrics",
    "drawdown_curve",
    "feature_rows",
    "fit_space",
    "infer_periods_per_year",
    "load_compiled",
    "parse_params",
    "run_backtest",
    "run_signals",
    "sample_warnings",
    "strategy_spec",
]
