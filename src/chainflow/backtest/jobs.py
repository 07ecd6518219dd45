"""What one asynchronous job computes, apart from storage: the request checked and turned
into engine inputs, then the backtest, optimization or walk-forward run on given bars.

This runs in a worker thread (``JobRunner``), so it never touches the event loop or the
database; its ``JobControl`` is its only channel while it runs: progress out, stop and
checkpoint requests in, snapshots of the finished trials or windows out. A snapshot also
pins the bars it was computed on (``bars_pin``): a resume must run on the same bars.

A backtest's result carries ``trade_log``: its first ``TRADE_LOG_LIMIT`` closed trades,
oldest first, each with ``side``, ``size``, ``entry_ts``/``entry_price``,
``exit_ts``/``exit_price``, net ``pnl``, ``commission``, ``swap`` and ``exit_reason``
(``trades`` counts them all; ``trade_log_truncated`` says whether some were left out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from chainflow.backtest.control import JobControl, Snapshot
from chainflow.backtest.errors import InvalidBacktestRequestError
from chainflow.backtest.metrics import metric_names
from chainflow.backtest.ml_diagnosis import no_trade_notes
from chainflow.backtest.model_source import parse_model_ref, training_overlap_note
from chainflow.backtest.model_training import ML_STRATEGY, trainer_from_params
from chainflow.backtest.optimize import Constraints, Evaluation, check_method, optimize
from chainflow.backtest.schemas import BacktestJobCreate
from chainflow.backtest.search_space import Choice, Dimension, Range
from chainflow.backtest.types import BacktestConfig, BacktestResult, Trade, json_number
from chainflow.backtest.walkforward import walk_forward
from chainflow.core.market import BarSeries

CURVE_POINTS = 500
TRADE_LOG_LIMIT = 1_000
_TRADE_LOG_FIELDS = (
    "side",
    "size",
    "entry_ts",
    "entry_price",
    "exit_ts",
    "exit_price",
    "pnl",
    "commission",
    "swap",
    "exit_reason",
)


@dataclass(frozen=True, slots=True)
class JobPlan:
    """A checked request: the engine inputs of one job."""

    kind: str
    strategy: str
    params: dict[str, Any]
    config: BacktestConfig
    space: dict[str, Dimension]
    request: BacktestJobCreate
    model: Any = None  # a RegisteredModel for an ML backtest, loaded before running


def plan_job(request: BacktestJobCreate) -> JobPlan:
    """Check ``request`` against the strategies and the account rules; raise
    ``InvalidBacktestRequestError`` naming what is wrong."""
    from chainflow.backtest.api import fit_space, parse_params

    if request.strategy == ML_STRATEGY:
        return _plan_model_job(request)
    try:
        params = parse_params(request.strategy, request.params)
        config = BacktestConfig(**request.config.model_dump())
        space: dict[str, Dimension] = {
            name: Choice(tuple(values)) for name, values in request.grid.items()
        }
        for name, spec in request.ranges.items():
            if name in space:
                raise InvalidBacktestRequestError(
                    f"expected {name!r} in grid or ranges; received it in both"
                )
            space[name] = Range(spec.low, spec.high, spec.step)
        space = fit_space(request.strategy, space)
        if request.kind != "backtest" and space:
            check_method(request.method)  # Bayesian search without Optuna: 501 missing_extra
        if request.kind != "backtest" and request.objective not in [*metric_names(), "trades"]:
            raise InvalidBacktestRequestError(
                f"expected an objective among {[*metric_names(), 'trades']}; "
                f"received {request.objective!r}"
            )
    except ValueError as e:
        raise InvalidBacktestRequestError(str(e)) from e
    return JobPlan(request.kind, request.strategy, params, config, space, request)


def run_plan(
    plan: JobPlan,
    bars: BarSeries,
    control: JobControl,
    *,
    workers: int,
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the job on ``bars``; return the JSON result (summary and a thinned curve).

    A search or walk-forward continues from ``resume`` (a snapshot it saved before) and
    raises ``JobStopped`` at its next step once ``control`` is asked to stop.
    """
    from chainflow.backtest.api import check_bar_count, load_compiled, run_backtest

    request = plan.request
    progress = control.report
    pin = bars_pin(bars)

    def steps(done: int, total: int) -> None:
        progress(done / total if total else 0.0)

    def on_step(snapshot: Snapshot) -> None:
        control.step(lambda: {**snapshot(), "bars": pin})

    if plan.kind == "backtest" and plan.strategy == ML_STRATEGY:
        strategy = plan.model.strategy()
        result = run_backtest(bars, strategy, None, plan.config, engine="event")
        note = training_overlap_note(plan.model, bars)
        if note is not None:
            result.notes.append(note)
        if not result.trades:
            result.notes[:0] = no_trade_notes(plan.model, strategy, bars)
        progress(1.0)
        return _backtest_out(result, bars)
    if plan.kind == "backtest":
        try:
            check_bar_count(plan.strategy, plan.params, len(bars))
        except ValueError as e:
            raise InvalidBacktestRequestError(str(e)) from e
        load_compiled(plan.strategy, plan.params, request.engine)  # untimed: elapsed_s
        result = run_backtest(bars, plan.strategy, plan.params, plan.config, engine=request.engine)
        progress(1.0)
        return _backtest_out(result, bars)
    constraints = Constraints(request.min_trades, request.max_drawdown_pct)
    if plan.kind == "optimize":
        evaluation = Evaluation(bars, plan.strategy, plan.config, plan.params, request.engine)
        found = optimize(
            evaluation,
            plan.space,
            method=request.method,
            trials=request.trials,
            objective=request.objective,
            constraints=constraints,
            workers=workers,
            seed=request.seed,
            progress=steps,
            on_step=on_step,
            resume=resume,
        )
        out = {**found.to_json(top=20), **_source(bars)}
        if found.best is not None:
            best = run_backtest(
                bars,
                plan.strategy,
                {**plan.params, **found.best.params},
                plan.config,
                engine=request.engine,
            )
            out.update(_curve(best.ts, best.equity))
        return out
    assert request.in_sample is not None and request.out_of_sample is not None
    trainer = trainer_from_params(plan.params) if plan.strategy == ML_STRATEGY else None
    analysis = walk_forward(
        bars,
        plan.strategy,
        plan.space,
        in_sample=request.in_sample,
        out_of_sample=request.out_of_sample,
        step=request.step,
        anchored=request.anchored,
        method=request.method,
        trials=request.trials,
        objective=request.objective,
        constraints=constraints,
        config=plan.config,
        base_params={} if trainer else plan.params,
        engine=request.engine,
        workers=workers,
        seed=request.seed,
        trainer=trainer,
        progress=steps,
        on_step=on_step,
        resume=resume,
    )
    return {**analysis.to_json(), **_curve(analysis.ts, analysis.equity), **_source(bars)}


def bars_pin(bars: BarSeries) -> dict[str, int]:
    """Return what identifies ``bars`` in a checkpoint: their count and time range."""
    return {"count": len(bars), "from_ts": int(bars.ts[0]), "to_ts": int(bars.ts[-1])}


def moment_ms(value: datetime | int | None) -> int | None:
    """Return epoch ms of a request's ``from``/``to`` (a datetime or epoch ms)."""
    if value is None or isinstance(value, int):
        return value
    if value.tzinfo is None:  # a time without an offset is UTC, as everywhere on the wire
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def thin_curve(
    ts: np.ndarray, values: np.ndarray, points: int = CURVE_POINTS
) -> dict[str, list[Any]]:
    """Return at most ``points`` samples of a curve (every k-th, always the last)."""
    n = len(values)
    if n == 0:
        return {"ts": [], "equity": []}
    picked = np.arange(0, n, max(1, math.ceil(n / points)))
    if picked[-1] != n - 1:
        picked = np.append(picked, n - 1)
    return {"ts": [int(t) for t in ts[picked]], "equity": [float(v) for v in values[picked]]}


def trade_log(trades: Sequence[Trade], limit: int = TRADE_LOG_LIMIT) -> dict[str, Any]:
    """Return the first ``limit`` closed trades as ``trade_log`` (JSON-safe, NaN as ``None``)
    and ``trade_log_truncated``."""
    log = []
    for trade in trades[:limit]:
        data = trade.to_json()
        row = {name: data[name] for name in _TRADE_LOG_FIELDS}
        for name, value in row.items():
            if isinstance(value, float):
                row[name] = json_number(value)
        log.append(row)
    return {"trade_log": log, "trade_log_truncated": len(trades) > limit}


def _backtest_out(result: BacktestResult, bars: BarSeries) -> dict[str, Any]:
    return {
        **result.to_json(),
        **_curve(result.ts, result.equity),
        **trade_log(result.trades),
        **_source(bars),
    }


def _curve(ts: np.ndarray, equity: np.ndarray) -> dict[str, Any]:
    return {"equity_curve": thin_curve(np.asarray(ts), np.asarray(equity, dtype=np.float64))}


def _source(bars: BarSeries) -> dict[str, Any]:
    return {
        "symbol": bars.symbol,
        "timeframe": bars.timeframe,
        "bars": len(bars),
        "from_ts": int(bars.ts[0]),
        "to_ts": int(bars.ts[-1]),
    }


def _plan_model_job(request: BacktestJobCreate) -> JobPlan:
    """``ml``: a backtest of a registered model (``params.model``: NAME or NAME@N, default
    the served model) or a walk-forward that retrains per window; never a search."""
    if request.kind == "optimize" or request.grid or request.ranges:
        raise InvalidBacktestRequestError(
            f"expected kind 'backtest' or 'walkforward' without grid or ranges for strategy "
            f"{ML_STRATEGY!r}; received kind {request.kind!r}"
        )
    try:
        if request.kind == "backtest":
            unknown = sorted(set(request.params) - {"model"})
            if unknown:
                raise InvalidBacktestRequestError(
                    f"expected only 'model' in params of an {ML_STRATEGY!r} backtest; "
                    f"received {unknown}"
                )
            parse_model_ref(str(request.params.get("model", "x")))
        else:
            trainer_from_params(request.params)
        config = BacktestConfig(**request.config.model_dump())
    except ValueError as e:
        raise InvalidBacktestRequestError(str(e)) from e
    return JobPlan(request.kind, ML_STRATEGY, dict(request.params), config, {}, request)
