"""Parameter optimization: grid, random and Bayesian (Optuna TPE) search, in parallel.

Every combination is one backtest (``chainflow.backtest.api.run_backtest``) scored by an
objective, one of the result's metrics (``sharpe``, ``return_pct``, ``calmar``, ...;
``max_drawdown_pct``, ``volatility_pct``, ``costs_paid`` and ``turnover`` are minimized,
every other metric maximized). A combination that
breaks a constraint (fewer trades than ``min_trades``, a deeper drawdown than
``max_drawdown_pct``), whose parameters the strategy refuses, or whose objective is not a
finite number is kept in the table as *infeasible* with the reason; it never stops the run
and never wins.

Backtests run in a process pool (``workers``, default ``os.cpu_count()``; see
``trial_runner``); ``workers=1`` runs in this process. Results do not depend on the number
of workers: grid and random points are fixed before any runs; Bayesian search asks Optuna
for one batch of ``workers`` trials at a time and tells it the results in trial order, so a
seed gives the same trials (for one ``workers``).

A search can be stopped and resumed: between chunks of backtests it calls ``on_step`` (a
``JobControl.step``) with a snapshot of the trials done so far (``checkpoint``); given that
snapshot back as ``resume``, it skips those trials and ends with the result an
uninterrupted search gives (Bayesian search replays the finished trials into Optuna).

Optuna is the ``optimize`` extra: without it Bayesian search is refused before any backtest
runs (``check_method``) with a ``MissingExtraError`` naming ``pip install
'chainflow[optimize]'``; grid and random search need nothing beyond the base install.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from chainflow.backtest.checkpoint import TrialsCheckpoint, trials_checkpoint
from chainflow.backtest.control import Progress, Step
from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.metrics import metric_names
from chainflow.backtest.optimize_result import (
    MINIMIZED,
    Constraints,
    Heatmap,
    OptimizationResult,
    Trial,
    objective_direction,
    rank_trials,
)
from chainflow.backtest.search_space import (
    GridPoints,
    SearchSpace,
    describe_space,
    random_points,
    suggest,
)
from chainflow.backtest.trial_runner import (
    Evaluation,
    Outcome,
    Runner,
    chunk_size,
    evaluate,
    open_runner,
)
from chainflow.core.optional import import_optional, require_installed

Method = Literal["grid", "random", "bayes"]
METHODS: tuple[str, ...] = ("grid", "random", "bayes")
BAYES_PURPOSE = "Bayesian search (method bayes)"


def check_method(method: str) -> None:
    """Raise ``ValueError`` for an unknown search method, ``MissingExtraError`` for Bayesian
    search without Optuna (the ``optimize`` extra)."""
    if method not in METHODS:
        raise InvalidBacktestInputError(
            f"expected a method among {', '.join(METHODS)}; received {method!r}"
        )
    if method == "bayes":
        require_installed("optuna", extra="optimize", purpose=BAYES_PURPOSE)


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
    on_step: Step | None = None,
    resume: Mapping[str, Any] | None = None,
) -> OptimizationResult:
    """Search ``space`` for the parameters that best score ``objective``.

    ``trials`` is required for random and Bayesian search (a grid visits every point).
    ``progress(done, total)`` is called in this process after each chunk of backtests (each
    backtest with one worker). ``on_step`` is called before each chunk with a snapshot of the
    trials done; ``resume`` is such a snapshot to continue from.
    """
    check_method(method)
    if objective not in (known := [*metric_names(), "trades"]):
        names = ", ".join(sorted(known))
        raise InvalidBacktestInputError(
            f"expected an objective among {names}; received {objective!r}"
        )
    if not space:
        raise InvalidBacktestInputError("expected at least one parameter to search; received none")
    if method != "grid" and (trials is None or trials < 1):
        raise InvalidBacktestInputError(
            f"expected --trials N >= 1 for {method} search; received {trials}"
        )
    if isinstance(evaluation.strategy, str):
        from chainflow.backtest.api import fit_space

        space = fit_space(evaluation.strategy, space)
    limits = constraints or Constraints()
    direction = objective_direction(objective)
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count < 1:
        raise InvalidBacktestInputError(f"expected at least 1 worker; received {count}")
    started = time.perf_counter()
    search = _Search(_Scorer(objective, limits), direction, progress, on_step)
    with open_runner(evaluation, count) as run:
        if method == "bayes":
            assert trials is not None
            done = search.bayes(run, space, trials, seed, count, resume)
        else:
            if method == "random":
                assert trials is not None
                points: Sequence[dict[str, Any]] = random_points(space, trials, seed)
            else:
                points = GridPoints(space)
            done = search.points(run, points, chunk_size(count), resume)
    return OptimizationResult(
        method=method,
        objective=objective,
        direction=direction,
        space=describe_space(space),
        trials=rank_trials(done, direction),
        elapsed_s=time.perf_counter() - started,
        workers=count,
        seed=seed,
        strategy=evaluation.strategy
        if isinstance(evaluation.strategy, str)
        else type(evaluation.strategy).__name__,
        constraints=limits,
    )


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


class _Search:
    """One search's loop: trials in index order, a step before every chunk."""

    def __init__(
        self, scorer: _Scorer, direction: str, progress: Progress | None, step: Step | None
    ) -> None:
        self.scorer = scorer
        self.direction = direction
        self.progress = progress
        self.step = step
        self.done: list[Trial] = []
        self.total = 0

    def points(
        self,
        run: Runner,
        points: Sequence[dict[str, Any]],
        size: int,
        resume: Mapping[str, Any] | None,
    ) -> list[Trial]:
        """Score every combination of ``points`` (grid or random), skipping resumed ones."""
        self.total = len(points)
        if resume is not None:
            finished = TrialsCheckpoint(resume, total=self.total)
            self.done = [finished.trial(i, points[i]) for i in range(finished.done)]
            self._report()
        while len(self.done) < self.total:
            self._step()
            start = len(self.done)
            chunk = points[start : start + size]
            for offset, (params, outcome) in enumerate(zip(chunk, run(chunk), strict=True)):
                self.done.append(self.scorer.score(start + offset, params, outcome))
            self._report()
        return self.done

    def bayes(
        self,
        run: Runner,
        space: SearchSpace,
        trials: int,
        seed: int,
        batch: int,
        resume: Mapping[str, Any] | None,
    ) -> list[Trial]:
        """Ask Optuna for ``batch`` trials at a time; finished ones are told again as they
        were (the seeded sampler then asks the same next trials)."""
        optuna = import_optional("optuna", extra="optimize", purpose=BAYES_PURPOSE)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(direction=self.direction, sampler=sampler)
        self.total = trials
        finished = TrialsCheckpoint(resume, total=trials) if resume is not None else None
        while len(self.done) < trials:
            if finished is None or len(self.done) >= finished.done:
                self._step()
            asked = [study.ask() for _ in range(min(batch, trials - len(self.done)))]
            points = [suggest(t, space) for t in asked]
            start = len(self.done)
            replayed = 0 if finished is None else max(0, min(len(points), finished.done - start))
            outcomes = run(points[replayed:]) if replayed < len(points) else []
            for offset, (optuna_trial, params) in enumerate(zip(asked, points, strict=True)):
                if offset < replayed:
                    assert finished is not None
                    trial = finished.trial(start + offset, params)
                else:
                    trial = self.scorer.score(start + offset, params, outcomes[offset - replayed])
                self.done.append(trial)
                if trial.score is None:
                    study.tell(optuna_trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    study.tell(optuna_trial, trial.score)
            if finished is None or len(self.done) >= finished.done:
                self._report()
        return self.done

    def _step(self) -> None:
        if self.step is not None:
            self.step(self._checkpoint)

    def _checkpoint(self) -> dict[str, Any]:
        return trials_checkpoint(self.done, total=self.total, direction=self.direction)

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(len(self.done), self.total)


__all__ = [
    "MINIMIZED",
    "Constraints",
    "Evaluation",
    "Heatmap",
    "OptimizationResult",
    "Progress",
    "Trial",
    "evaluate",
    "objective_direction",
    "optimize",
]
