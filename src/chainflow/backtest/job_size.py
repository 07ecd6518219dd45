"""How big a backtest job is, and the tier's cap on it.

A job's cost grows with the combinations it backtests times the bars each one runs on, so
that is what a tier caps (``TierLimits.backtest_combination_bars``), not combinations alone:
a million combinations on a hundred bars cost what a hundred do on a million bars.

- a backtest: one combination on the job's bars;
- an optimization: the grid's size (or the trials of a random or Bayesian search) on the
  job's bars;
- a walk-forward: the combinations searched per window (at least one) on the bars of all
  windows (each window's in-sample plus out-of-sample bars).
"""

from __future__ import annotations

from dataclasses import dataclass

from chainflow.backtest.errors import BacktestTooLargeError, InvalidBacktestRequestError
from chainflow.backtest.jobs import JobPlan
from chainflow.backtest.search_space import MAX_GRID_POINTS, grid_size
from chainflow.backtest.walkforward import walk_forward_windows
from chainflow.core.auth import Principal


@dataclass(frozen=True, slots=True)
class JobSize:
    """A job's combinations, the bars each runs on and (walk-forward) its windows."""

    combinations: int
    bars: int
    windows: int | None = None

    @property
    def combination_bars(self) -> int:
        """Return combinations x bars, what a tier caps."""
        return self.combinations * self.bars

    def describe(self) -> str:
        """Return the size in words, e.g. ``500 combinations x 1728 bars = 864000``."""
        over = f" over {self.windows} windows" if self.windows is not None else ""
        return (
            f"{self.combinations} combinations x {self.bars} bars{over} = "
            f"{self.combination_bars} combination-bars"
        )


def job_size(plan: JobPlan, n_bars: int) -> JobSize:
    """Return the size of ``plan`` on ``n_bars`` bars; raise ``InvalidBacktestRequestError``
    for a grid that cannot be walked or windows that do not fit the bars."""
    request = plan.request
    try:
        if plan.kind == "backtest":
            return JobSize(1, n_bars)
        combinations = _combinations(plan)
        if plan.kind == "optimize":
            return JobSize(combinations, n_bars)
        assert request.in_sample is not None and request.out_of_sample is not None
        windows = walk_forward_windows(
            n_bars,
            request.in_sample,
            request.out_of_sample,
            request.step,
            anchored=request.anchored,
        )
    except ValueError as e:
        raise InvalidBacktestRequestError(str(e)) from e
    bars = sum(w.oos_stop - w.is_start for w in windows)
    return JobSize(max(1, combinations), bars, len(windows))


def check_job_size(principal: Principal, size: JobSize) -> None:
    """Raise ``BacktestTooLargeError`` when ``size`` exceeds the caller's tier cap."""
    cap = principal.limits.backtest_combination_bars
    if size.combination_bars <= cap:
        return
    raise BacktestTooLargeError(
        f"expected at most {cap} combination-bars per job on tier {principal.tier.value!r}; "
        f"received {size.describe()}. Search fewer combinations, use fewer bars (from/to), "
        "or upgrade",
        details={
            "combinations": size.combinations,
            "bars": size.bars,
            "windows": size.windows,
            "combination_bars": size.combination_bars,
            "limit": cap,
            "tier": principal.tier.value,
        },
    )


def _combinations(plan: JobPlan) -> int:
    request = plan.request
    if not plan.space:
        return 0
    if request.method != "grid":
        return int(request.trials or 0)
    size = grid_size(plan.space)
    if size > MAX_GRID_POINTS:
        raise InvalidBacktestRequestError(
            f"expected a grid of at most {MAX_GRID_POINTS} combinations; received {size} "
            "(use method random or bayes with trials)"
        )
    return size
