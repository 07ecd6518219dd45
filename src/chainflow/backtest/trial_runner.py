"""Running a search's backtests: in this process, or in a pool of worker processes.

The bars, the strategy and the config reach each worker once, through the pool's
initializer, not with every task; a task carries only its parameters. A runner takes one
chunk of combinations and returns their outcomes in order, so that the search can check
for a stop request and save a checkpoint between chunks: one backtest in this process,
``CHUNK_PER_WORKER`` per worker in a pool. A failing backtest is an outcome with its
error, never an exception.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chainflow.backtest.api import EngineChoice

CHUNK_PER_WORKER = 4
Outcome = tuple[dict[str, float] | None, int, str | None]  # metrics, trades, error
Runner = Callable[[Sequence[dict[str, Any]]], list[Outcome]]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What every backtest of a search shares; sent once to each worker process."""

    bars: Any
    strategy: Any
    config: Any
    base_params: dict[str, Any]
    engine: EngineChoice = "auto"


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


def chunk_size(workers: int) -> int:
    """Return how many combinations a runner of ``workers`` takes between two steps."""
    return 1 if workers == 1 else workers * CHUNK_PER_WORKER


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
def open_runner(evaluation: Evaluation, workers: int) -> Iterator[Runner]:
    """Yield a runner of ``workers`` processes (``1``: this process); the pool is shut
    down on exit, pending backtests cancelled."""
    if workers == 1:

        def serial(points: Sequence[dict[str, Any]]) -> list[Outcome]:
            return [_safe_evaluate(evaluation, params) for params in points]

        yield serial
        return
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=pool_context(),
        initializer=_init_worker,
        initargs=(evaluation,),
    )

    def parallel(points: Sequence[dict[str, Any]]) -> list[Outcome]:
        return list(pool.map(_evaluate_in_worker, points))

    try:
        yield parallel
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
