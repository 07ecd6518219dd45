"""Parameter optimization: grid, random and Bayesian (Optuna TPE) search, in parallel.

Every combination is one backtest (``chainflow.backtest.api.run_backtest``) scored by an
objective, one of the result's metrics (``sharpe``, ``return_pct``, ``calmar``, ...;
``max_drawdown_pct``, ``volatility_pct``, ``costs_paid`` and ``turnover`` are minimized,
every other metric maximized). A combination that
breaks a constraint (fewer trades than ``min_trades``, a deeper drawdown than
``max_drawdown_pct``), whose parameters the strategy refuses, or whose objective is not a
finite number is kept in the table as *infeasible* with the reason; it never stops the run
and never wins.

Backtests run in a process pool (``workers``, default ``os.cpu_count()``). The bars, the
strategy and the config reach each worker once, through the pool's initializer, not with
every task; a task carries only its parameters. ``workers=1`` runs in this process.
Results do not depend on the number of workers: grid and random points are fixed before any
runs; Bayesian search asks Optuna for one batch of ``workers`` trials at a time and tells
it the results in trial order, so a seed gives the same trials (for one ``workers``).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from chainflow.backtest.metrics import metric_names
from chainflow.backtest.search_space import (
    ParamValue,
    SearchSpace,
    describe_space,
    grid_points,
    random_points,
    suggest,
)

Method = Literal["grid", "random", "bayes"]
METHODS: tuple[str, ...] = ("grid", "random", "bayes")
MINIMIZED = frozenset(
    {"max_drawdown_pct", "max_drawdown_duration_bars", "volatility_pct", "costs_paid", "turnover"}
)
Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True, slots=True)
class Constraints:
    """What a combination must achieve to count: a minimum number of closed trades and,
    optionally, a maximum drawdown (percent, compared by magnitude)."""

    min_trades: int = 0
    max_drawdown_pct: float | None = None

    def violation(self, metrics: Mapping[str, float], trades: int) -> str | None:
        """Return why ``metrics`` break a constraint, or ``None``."""
        if trades < self.min_trades:
            return f"expected at least {self.min_trades} trades; received {trades}"
        drawdown = metrics.get("max_drawdown_pct")
        if self.max_drawdown_pct is not None and drawdown is not None:
            if abs(drawdown) > abs(self.max_drawdown_pct):
                return (
                    f"expected a max drawdown within {abs(self.max_drawdown_pct)}%; "
                    f"received {abs(drawdown):.4g}%"
                )
        return None


@dataclass(frozen=True, slots=True)
class Trial:
    """One evaluated combination: its parameters, metrics and score (``None``: infeasible)."""

    index: int
    params: dict[str, Any]
    metrics: dict[str, float]
    score: float | None
    reason: str | None = None

    @property
    def is_feasible(self) -> bool:
        """Return whether the trial met the constraints and scored a finite objective."""
        return self.score is not None

    def to_json(self) -> dict[str, Any]:
        """Return the trial as JSON-safe data (non-finite metrics as ``None``)."""
        return {
            "index": self.index, "params": self.params, "score": self.score,
            "feasible": self.is_feasible, "reason": self.reason,
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Heatmap:
    """The objective over two parameters: ``z[i][j]`` at ``y_values[i]``, ``x_values[j]``
    (the best over any other parameters; ``None`` where no feasible trial ran)."""

    x: str
    y: str
    x_values: list[Any]
    y_values: list[Any]
    z: list[list[float | None]]

    def to_json(self) -> dict[str, Any]:
        """Return the matrix as JSON-safe data."""
        return {"x": self.x, "y": self.y, "x_values": self.x_values,
                "y_values": self.y_values, "z": self.z}  # fmt: skip


@dataclass(slots=True)
class OptimizationResult:
    """All trials, best first (feasible ones by score, then infeasible in trial order)."""

    method: str
    objective: str
    direction: str
    space: dict[str, Any]
    trials: list[Trial]
    elapsed_s: float
    workers: int
    seed: int
    strategy: str = ""
    constraints: Constraints = field(default_factory=Constraints)

    @property
    def best(self) -> Trial | None:
        """Return the best feasible trial, or ``None`` when none is feasible."""
        return self.trials[0] if self.trials and self.trials[0].is_feasible else None

    def heatmap(self, x: str | None = None, y: str | None = None) -> Heatmap | None:
        """Return the score matrix over parameters ``x`` and ``y`` (default: the first two
        searched), or ``None`` when fewer than two parameters were searched."""
        names = list(self.space)
        if x is None or y is None:
            if len(names) < 2:
                return None
            x, y = names[0], names[1]
        x_values = sorted({t.params[x] for t in self.trials}, key=_sort_key)
        y_values = sorted({t.params[y] for t in self.trials}, key=_sort_key)
        sign = -1.0 if self.direction == "minimize" else 1.0
        z: list[list[float | None]] = [[None] * len(x_values) for _ in y_values]
        for trial in self.trials:
            if trial.score is None:
                continue
            i, j = y_values.index(trial.params[y]), x_values.index(trial.params[x])
            current = z[i][j]
            if current is None or sign * trial.score > sign * current:
                z[i][j] = trial.score
        return Heatmap(x=x, y=y, x_values=x_values, y_values=y_values, z=z)

    def to_json(self, top: int | None = 20) -> dict[str, Any]:
        """Return the summary, the best trial and the ``top`` trials (all when ``None``)."""
        best = self.best
        heatmap = self.heatmap() if len(self.space) == 2 else None
        return {
            "strategy": self.strategy, "method": self.method, "objective": self.objective,
            "direction": self.direction, "space": self.space, "seed": self.seed,
            "workers": self.workers, "trials": len(self.trials),
            "feasible": sum(t.is_feasible for t in self.trials),
            "constraints": {"min_trades": self.constraints.min_trades,
                            "max_drawdown_pct": self.constraints.max_drawdown_pct},
            "best": best.to_json() if best else None,
            "results": [t.to_json() for t in (self.trials if top is None else self.trials[:top])],
            "heatmap": heatmap.to_json() if heatmap else None,
            "elapsed_s": round(self.elapsed_s, 6),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What every backtest of a search shares; sent once to each worker process."""

    bars: Any
    strategy: Any
    config: Any
    base_params: dict[str, Any]
    engine: str = "auto"


def objective_direction(objective: str) -> str:
    """Return ``"minimize"`` for drawdown-like metrics, else ``"maximize"``."""
    return "minimize" if objective in MINIMIZED else "maximize"


def evaluate(evaluation: Evaluation, params: Mapping[str, Any]) -> tuple[dict[str, float], int]:
    """Run one backtest; return its metrics and its number of closed trades."""
    from chainflow.backtest.api import run_backtest

    merged = {**evaluation.base_params, **params}
    result = run_backtest(
        evaluation.bars, evaluation.strategy, merged, evaluation.config, engine=evaluation.engine
    )
    trades = len(result.trades)
    metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, int | float)}
    metrics.setdefault("trades", float(trades))
    return metrics, trades


def optimize(
    evaluation: Evaluation,
    space: SearchSpace,
    *,
    method: str = "grid",
    trials: int | None = None,
    objective: str = "sharpe",
    constraints: Constraints | None = None,
    workers: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> OptimizationResult:
    """Search ``space`` for the parameters that best score ``objective``.

    ``trials`` is required for random and Bayesian search (a grid visits every point).
    ``progress(done, total)`` is called in this process after each finished backtest.
    """
    if method not in METHODS:
        raise ValueError(f"expected a method among {', '.join(METHODS)}; received {method!r}")
    if objective not in (known := [*metric_names(), "trades"]):
        names = ", ".join(sorted(known))
        raise ValueError(f"expected an objective among {names}; received {objective!r}")
    if not space:
        raise ValueError("expected at least one parameter to search; received none")
    if method != "grid" and (trials is None or trials < 1):
        raise ValueError(f"expected --trials N >= 1 for {method} search; received {trials}")
    if isinstance(evaluation.strategy, str):
        from chainflow.backtest.api import fit_space

        space = fit_space(evaluation.strategy, space)
    limits = constraints or Constraints()
    direction = objective_direction(objective)
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count < 1:
        raise ValueError(f"expected at least 1 worker; received {count}")
    started = time.perf_counter()
    scorer = _Scorer(objective, limits)
    with _runner(evaluation, count) as run:
        if method == "bayes":
            assert trials is not None
            done = _bayes(run, space, trials, seed, count, direction, scorer, progress)
        else:
            if method == "random":
                assert trials is not None
                points = random_points(space, trials, seed)
            else:
                points = list(grid_points(space))
            outcomes = run(points, progress, 0, len(points))
            done = [
                scorer.score(i, p, o) for i, (p, o) in enumerate(zip(points, outcomes, strict=True))
            ]
    sign = -1.0 if direction == "minimize" else 1.0
    ranked = sorted(done, key=lambda t: (t.score is None, -sign * (t.score or 0.0), t.index))
    return OptimizationResult(
        method=method, objective=objective, direction=direction, space=describe_space(space),
        trials=ranked, elapsed_s=time.perf_counter() - started, workers=count, seed=seed,
        strategy=evaluation.strategy if isinstance(evaluation.strategy, str)
        else type(evaluation.strategy).__name__,
        constraints=limits,
    )  # fmt: skip


# --- scoring ---------------------------------------------------------------------------------

Outcome = tuple[dict[str, float] | None, int, str | None]  # metrics, trades, error


class _Scorer:
    def __init__(self, objective: str, constraints: Constraints) -> None:
        self.objective = objective
        self.constraints = constraints

    def score(self, index: int, params: dict[str, Any], outcome: Outcome) -> Trial:
        metrics, trades, error = outcome
        if metrics is None:
            return Trial(index, params, {}, None, error or "the backtest failed")
        reason = self.constraints.violation(metrics, trades)
        value = metrics.get(self.objective)
        if reason is None and (value is None or not math.isfinite(value)):
            reason = f"expected a finite {self.objective}; received {value}"
        return Trial(index, params, metrics, None if reason else float(value), reason)  # type: ignore[arg-type]


# --- running backtests: in this process or in a pool ----------------------------------------

Runner = Callable[[Sequence[dict[str, Any]], Progress | None, int, int], list[Outcome]]
_WORKER_EVALUATION: Evaluation | None = None


def _init_worker(evaluation: Evaluation) -> None:
    global _WORKER_EVALUATION
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _WORKER_EVALUATION = evaluation


def _safe_evaluate(evaluation: Evaluation, params: Mapping[str, Any]) -> Outcome:
    try:
        metrics, trades = evaluate(evaluation, params)
    except Exception as e:  # refused parameters or a strategy's bug: infeasible, with why
        return None, 0, f"{type(e).__name__}: {e}"
    return metrics, trades, None


def _evaluate_in_worker(params: dict[str, Any]) -> Outcome:
    if _WORKER_EVALUATION is None:
        raise RuntimeError("expected the worker initialized with an evaluation; received none")
    return _safe_evaluate(_WORKER_EVALUATION, params)


def pool_context() -> multiprocessing.context.BaseContext:
    """Return the start method for worker processes: ``forkserver`` where available (no
    inherited threads or locks from a server process), else ``spawn``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # The fork server imports the engine once; every worker forked from it starts warm.
    context.set_forkserver_preload(["chainflow.backtest.api"])
    return context


@contextmanager
def _runner(evaluation: Evaluation, workers: int) -> Iterator[Runner]:
    if workers == 1:

        def serial(points: Sequence[dict[str, Any]], progress: Progress | None, offset: int,
                   total: int) -> list[Outcome]:  # fmt: skip
            outcomes = []
            for i, params in enumerate(points):
                outcomes.append(_safe_evaluate(evaluation, params))
                if progress:
                    progress(offset + i + 1, total)
            return outcomes

        yield serial
        return
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=pool_context(), initializer=_init_worker,
        initargs=(evaluation,),
    )  # fmt: skip

    def parallel(points: Sequence[dict[str, Any]], progress: Progress | None, offset: int,
                 total: int) -> list[Outcome]:  # fmt: skip
        futures: dict[Future[Outcome], int] = {
            pool.submit(_evaluate_in_worker, params): i for i, params in enumerate(points)
        }
        outcomes: list[Outcome | None] = [None] * len(points)
        pending = set(futures)
        finished = 0
        while pending:
            complete, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in complete:
                outcomes[futures[future]] = future.result()
                finished += 1
                if progress:
                    progress(offset + finished, total)
        return [o for o in outcomes if o is not None]

    try:
        yield parallel
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _bayes(
    run: Runner,
    space: SearchSpace,
    trials: int,
    seed: int,
    batch: int,
    direction: str,
    scorer: _Scorer,
    progress: Progress | None,
) -> list[Trial]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    done: list[Trial] = []
    while len(done) < trials:
        asked = [study.ask() for _ in range(min(batch, trials - len(done)))]
        points = [suggest(t, space) for t in asked]
        outcomes = run(points, progress, len(done), trials)
        for optuna_trial, params, outcome in zip(asked, points, outcomes, strict=True):
            trial = scorer.score(len(done), params, outcome)
            done.append(trial)
            if trial.score is None:
                study.tell(optuna_trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(optuna_trial, trial.score)
    return done


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _sort_key(value: ParamValue) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))
