"""Parameter search: grid, random and Bayesian, constraints, the process pool, heatmaps."""

from __future__ import annotations

import math

import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.optimize import (
    Constraints,
    Evaluation,
    objective_direction,
    optimize,
)
from chainflow.backtest.search_space import (
    Choice,
    Range,
    build_space,
    grid_points,
    parse_grid,
    parse_range,
    random_points,
)
from chainflow.backtest.types import BacktestConfig
from tests.backtest.builders import random_walk_bars

BARS = random_walk_bars(3_000, seed=11)
CONFIG = BacktestConfig(cash=10_000.0, commission=0.0002)
SPACE = {"fast": Choice((5, 10, 20)), "slow": Range(20, 60, 20)}


def evaluation() -> Evaluation:
    return Evaluation(BARS, "sma_crossover", CONFIG, {}, "auto")


class TestSearchSpace:
    def test_range_is_inclusive_and_integer(self) -> None:
        assert Range(20, 60, 20).grid_values() == (20, 40, 60)
        assert Range(0.5, 1.5, 0.25).grid_values() == (0.5, 0.75, 1.0, 1.25, 1.5)

    def test_grid_varies_the_last_dimension_fastest(self) -> None:
        points = list(grid_points(SPACE))
        assert points[:3] == [
            {"fast": 5, "slow": 20},
            {"fast": 5, "slow": 40},
            {"fast": 5, "slow": 60},
        ]
        assert len(points) == 9

    def test_options_parse_to_dimensions(self) -> None:
        assert parse_grid("fast=5, 10,20") == ("fast", Choice((5, 10, 20)))
        assert parse_range("k=1:2:0.5") == ("k", Range(1.0, 2.0, 0.5))
        assert build_space(["a=x,y"], ["b=1:3"]) == {"a": Choice(("x", "y")), "b": Range(1, 3)}

    def test_bad_options_are_refused_with_the_expected_shape(self) -> None:
        with pytest.raises(ValueError, match="expected name=low:high"):
            parse_range("slow=20-60")
        with pytest.raises(ValueError, match="twice"):
            build_space(["fast=1,2"], ["fast=1:3:1"])
        with pytest.raises(ValueError, match="step"):
            list(grid_points({"k": Range(0.0, 1.0)}))

    def test_random_points_are_seeded_and_distinct(self) -> None:
        space = {"a": Range(1, 50, 1), "b": Range(1, 50, 1)}
        first = random_points(space, 30, seed=4)
        assert first == random_points(space, 30, seed=4)
        assert first != random_points(space, 30, seed=5)
        assert len({(p["a"], p["b"]) for p in first}) == 30


class TestGrid:
    def test_best_is_the_highest_sharpe_of_every_combination(self) -> None:
        result = optimize(evaluation(), SPACE, objective="sharpe", workers=1)

        direct = {}
        for params in grid_points(SPACE):
            if params["fast"] >= params["slow"]:
                continue
            run = run_backtest(BARS, "sma_crossover", params, CONFIG)
            direct[(params["fast"], params["slow"])] = run.metrics["sharpe"]
        best_key = max(direct, key=lambda k: direct[k])
        assert result.best is not None
        assert (result.best.params["fast"], result.best.params["slow"]) == best_key
        assert result.best.score == pytest.approx(direct[best_key])
        scores = [t.score for t in result.trials if t.is_feasible]
        assert scores == sorted(scores, reverse=True)
        assert len(result.trials) == 9

    def test_invalid_combinations_are_infeasible_not_fatal(self) -> None:
        result = optimize(evaluation(), SPACE, workers=1)

        infeasible = [t for t in result.trials if not t.is_feasible]
        assert [t.params for t in infeasible] == [{"fast": 20, "slow": 20}]
        assert "expected fast < slow" in (infeasible[0].reason or "")
        assert result.trials[-1] is infeasible[0]  # infeasible trials rank last

    def test_min_trades_excludes_combinations(self) -> None:
        free = optimize(evaluation(), SPACE, workers=1)
        counts = sorted(t.metrics["num_trades"] for t in free.trials if t.is_feasible)
        cut = counts[len(counts) // 2]

        result = optimize(
            evaluation(), SPACE, constraints=Constraints(min_trades=int(cut)), workers=1
        )

        for trial in result.trials:
            if trial.metrics and trial.metrics["num_trades"] < cut:
                assert not trial.is_feasible and "trades" in (trial.reason or "")
        assert result.best is not None and result.best.metrics["num_trades"] >= cut
        none = optimize(evaluation(), SPACE, constraints=Constraints(min_trades=10**6), workers=1)
        assert none.best is None and none.to_json()["best"] is None

    def test_drawdown_is_minimized(self) -> None:
        assert objective_direction("max_drawdown_pct") == "minimize"
        result = optimize(evaluation(), SPACE, objective="max_drawdown_pct", workers=1)

        feasible = [t.score for t in result.trials if t.score is not None]
        assert result.best is not None and result.best.score == min(feasible)

    def test_unknown_objective_is_refused_before_any_trial(self) -> None:
        with pytest.raises(
            ValueError, match="expected an objective among .*sharpe.*received 'happiness'"
        ):
            optimize(evaluation(), SPACE, objective="happiness", workers=1)

    def test_progress_reports_every_backtest(self) -> None:
        seen: list[tuple[int, int]] = []
        optimize(evaluation(), SPACE, workers=1, progress=lambda d, t: seen.append((d, t)))
        assert seen == [(i, 9) for i in range(1, 10)]

    def test_heatmap_is_the_score_matrix(self) -> None:
        result = optimize(evaluation(), SPACE, workers=1)
        heatmap = result.heatmap()
        assert heatmap is not None
        assert (heatmap.x, heatmap.y) == ("fast", "slow")
        assert heatmap.x_values == [5, 10, 20] and heatmap.y_values == [20, 40, 60]
        by_params = {(t.params["fast"], t.params["slow"]): t.score for t in result.trials}
        for i, slow in enumerate(heatmap.y_values):
            for j, fast in enumerate(heatmap.x_values):
                assert heatmap.z[i][j] == by_params[(fast, slow)]
        assert heatmap.z[0][2] is None  # fast 20, slow 20: infeasible


class TestRandomAndBayes:
    def test_random_search_is_deterministic_for_a_seed(self) -> None:
        space = {"fast": Range(3, 15, 1), "slow": Range(20, 80, 5)}
        a = optimize(evaluation(), space, method="random", trials=6, seed=7, workers=1)
        b = optimize(evaluation(), space, method="random", trials=6, seed=7, workers=1)
        assert [t.to_json() for t in a.trials] == [t.to_json() for t in b.trials]
        assert len(a.trials) == 6

    def test_bayes_search_is_deterministic_for_a_seed(self) -> None:
        space = {"fast": Range(3, 15, 1), "slow": Range(20, 80, 5)}
        a = optimize(evaluation(), space, method="bayes", trials=12, seed=3, workers=1)
        b = optimize(evaluation(), space, method="bayes", trials=12, seed=3, workers=1)
        c = optimize(evaluation(), space, method="bayes", trials=12, seed=4, workers=1)
        params = sorted((t.index, tuple(t.params.values())) for t in a.trials)
        assert params == sorted((t.index, tuple(t.params.values())) for t in b.trials)
        assert params != sorted((t.index, tuple(t.params.values())) for t in c.trials)
        assert all(3 <= t.params["fast"] <= 15 and t.params["slow"] % 5 == 0 for t in a.trials)

    def test_random_and_bayes_need_trials(self) -> None:
        with pytest.raises(ValueError, match="--trials"):
            optimize(evaluation(), SPACE, method="random", workers=1)


class TestProcessPool:
    def test_pool_results_equal_serial_results(self) -> None:
        serial = optimize(evaluation(), SPACE, workers=1)
        pooled = optimize(evaluation(), SPACE, workers=2)
        assert [t.to_json() for t in pooled.trials] == [t.to_json() for t in serial.trials]
        assert pooled.workers == 2

    def test_json_is_finite_and_names_the_best(self) -> None:
        data = optimize(evaluation(), SPACE, workers=1).to_json(top=3)
        assert len(data["results"]) == 3 and data["trials"] == 9 and data["feasible"] == 8
        assert data["heatmap"]["x"] == "fast"
        for row in data["results"]:
            assert all(v is None or math.isfinite(v) for v in row["metrics"].values())
