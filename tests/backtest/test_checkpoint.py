"""Stopping a search or walk-forward between backtests and resuming it from its checkpoint:
the resumed run skips the finished work and ends with the uninterrupted result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chainflow.backtest.control import JobControl, JobStopped
from chainflow.backtest.optimize import Evaluation, optimize
from chainflow.backtest.search_space import Choice, GridPoints, Range, grid_points, grid_size
from chainflow.backtest.types import BacktestConfig
from chainflow.backtest.walkforward import walk_forward
from tests.backtest.builders import random_walk_bars

BARS = random_walk_bars(1_500, seed=21)
CONFIG = BacktestConfig(cash=10_000.0, commission=0.0002)
SPACE = {"fast": Range(3, 14, 1), "slow": Choice((20, 30, 45))}  # 36 combinations


def evaluation() -> Evaluation:
    return Evaluation(BARS, "sma_crossover", CONFIG, {}, "auto")


def stopping_after(control: JobControl, done: int) -> Any:
    """A progress callback that asks ``control`` to stop once ``done`` units finished."""

    def progress(finished: int, _total: int) -> None:
        if finished >= done:
            control.request_stop("interrupted")

    return progress


def stored(checkpoint: dict[str, Any] | None) -> dict[str, Any]:
    """Return ``checkpoint`` as the job row stores it (JSON, no NaN)."""
    assert checkpoint is not None
    return json.loads(json.dumps(checkpoint, allow_nan=False))


def without_timing(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "elapsed_s"}


class TestJobControl:
    def test_step_saves_a_snapshot_only_when_asked(self) -> None:
        control = JobControl()
        control.step(lambda: {"n": 1})
        assert control.latest() == (0, None)
        control.request_checkpoint()
        control.step(lambda: {"n": 2})
        control.step(lambda: {"n": 3})
        assert control.latest() == (1, {"n": 2})

    def test_stop_saves_a_snapshot_then_raises_the_first_reason(self) -> None:
        control = JobControl()
        control.request_stop("cancelled")
        control.request_stop("interrupted")
        with pytest.raises(JobStopped) as stopped:
            control.step(lambda: {"n": 4})
        assert stopped.value.reason == "cancelled"
        assert control.latest() == (1, {"n": 4})


class TestResumeSearch:
    @pytest.mark.parametrize(("method", "trials"), [("grid", None), ("random", 20), ("bayes", 14)])
    def test_resumed_search_skips_finished_trials_and_ends_alike(
        self, method: str, trials: int | None
    ) -> None:
        options: dict[str, Any] = {"method": method, "trials": trials, "seed": 5, "workers": 1}
        whole = optimize(evaluation(), SPACE, **options)
        control = JobControl()
        with pytest.raises(JobStopped):
            optimize(
                evaluation(),
                SPACE,
                **options,
                progress=stopping_after(control, 11),
                on_step=control.step,
            )
        checkpoint = stored(control.latest()[1])
        assert checkpoint["done"] == 11 and len(checkpoint["scores"]) == 11
        seen: list[int] = []

        resumed = optimize(
            evaluation(),
            SPACE,
            **options,
            resume=checkpoint,
            progress=lambda done, _total: seen.append(done),
        )

        assert seen[0] == 11 and seen[1] == 12  # no finished trial ran again
        assert without_timing(resumed.to_json(top=20)) == without_timing(whole.to_json(top=20))

    def test_checkpoint_of_another_search_is_refused(self) -> None:
        control = JobControl()
        with pytest.raises(JobStopped):
            optimize(
                evaluation(),
                SPACE,
                workers=1,
                progress=stopping_after(control, 3),
                on_step=control.step,
            )
        smaller = {"fast": Range(3, 5, 1)}
        with pytest.raises(ValueError, match="expected a checkpoint of a search of 3 trials"):
            optimize(evaluation(), smaller, workers=1, resume=stored(control.latest()[1]))


class TestResumeWalkForward:
    def test_resumed_walk_forward_skips_finished_windows_and_ends_alike(self) -> None:
        space = {"fast": Choice((5, 10)), "slow": Choice((30, 60))}
        options: dict[str, Any] = {
            "in_sample": 500,
            "out_of_sample": 250,
            "config": CONFIG,
            "workers": 1,
            "objective": "return_pct",
        }
        whole = walk_forward(BARS, "sma_crossover", space, **options)
        assert len(whole.windows) == 4
        control = JobControl()
        per_window = 4 + 1
        with pytest.raises(JobStopped):
            walk_forward(
                BARS,
                "sma_crossover",
                space,
                **options,
                on_step=control.step,
                progress=stopping_after(control, 2 * per_window),
            )
        checkpoint = stored(control.latest()[1])
        assert (checkpoint["unit"], checkpoint["done"], checkpoint["total"]) == ("windows", 2, 4)
        seen: list[int] = []

        resumed = walk_forward(
            BARS,
            "sma_crossover",
            space,
            **options,
            resume=checkpoint,
            progress=lambda done, _total: seen.append(done),
        )

        assert seen[0] == 2 * per_window and seen[1] == 2 * per_window + 1
        expected = without_timing(whole.to_json(include_curves=True))
        assert without_timing(resumed.to_json(include_curves=True)) == expected


class TestGridPoints:
    def test_points_by_index_are_the_grid_in_order(self) -> None:
        space = {"a": Choice((1, 2)), "b": Range(0.5, 1.5, 0.5), "c": Choice(("x", "y"))}
        points = GridPoints(space)
        assert len(points) == grid_size(space) == 12
        assert list(points) == list(grid_points(space))
        assert points[-1] == {"a": 2, "b": 1.5, "c": "y"} and points[2:4] == list(points)[2:4]

    def test_size_is_counted_without_listing_the_values(self) -> None:
        huge = {"a": Range(0, 1e12, 1)}
        assert grid_size(huge) == 10**12 + 1
        with pytest.raises(ValueError, match="at most 1000000 combinations"):
            GridPoints(huge)
