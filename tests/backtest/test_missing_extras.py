"""Without the ``optimize`` (Optuna) or ``reports`` (Plotly) extra: refused up front, by name.

Grid and random search and plain backtests need neither; Bayesian search and HTML reports
say which extra to install before any backtest runs, and the jobs API answers 501
``missing_extra`` in the error shape.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.optimize import Evaluation, optimize
from chainflow.backtest.report import backtest_report, check_reports
from chainflow.backtest.search_space import Choice
from chainflow.backtest.types import BacktestConfig
from chainflow.core.optional import MissingExtraError
from tests.backtest.builders import random_walk_bars
from tests.backtest.job_platform import BACKTEST, Platform, error_of
from tests.fixtures.missing_modules import hide_modules

BARS = random_walk_bars(1_500, seed=5)
SPACE = {"fast": Choice((5, 10)), "slow": Choice((20, 40))}


def evaluation() -> Evaluation:
    return Evaluation(BARS, "sma_crossover", BacktestConfig(), {}, "auto")


class TestWithoutOptuna:
    def test_bayes_search_is_refused_before_any_backtest(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        hide_modules(monkeypatch, "optuna")
        calls: list[tuple[int, int]] = []
        with pytest.raises(MissingExtraError) as caught:
            optimize(
                evaluation(),
                SPACE,
                method="bayes",
                trials=4,
                workers=1,
                progress=lambda done, total: calls.append((done, total)),
            )
        assert "pip install 'chainflow[optimize]'" in caught.value.message
        assert calls == []

    def test_grid_and_random_search_need_no_optuna(self, monkeypatch: pytest.MonkeyPatch) -> None:
        hide_modules(monkeypatch, "optuna")
        grid = optimize(evaluation(), SPACE, method="grid", workers=1)
        drawn = optimize(evaluation(), SPACE, method="random", trials=3, workers=1)
        assert len(grid.trials) == 4 and len(drawn.trials) == 3

    async def test_a_bayes_job_is_answered_501_missing_extra_and_not_queued(
        self, platform: Platform, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        hide_modules(monkeypatch, "optuna")
        body = {
            **BACKTEST,
            "kind": "optimize",
            "method": "bayes",
            "trials": 4,
            "grid": {"fast": [5, 10]},
        }
        answer = await platform.post("pro", body)
        assert answer.status_code == 501, answer.text
        error = error_of(answer)
        assert error["code"] == "missing_extra"
        assert "pip install 'chainflow[optimize]'" in error["message"]
        assert error["details"]["extra"] == "optimize"
        listed = await platform.http.get("/api/v1/backtests", headers=platform.auth("pro"))
        assert listed.status_code == 200 and listed.json()["items"] == []


class TestWithoutPlotly:
    def test_a_report_is_refused_and_no_file_is_written(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        result = run_backtest(BARS, "sma_crossover", {"fast": 5, "slow": 20})
        hide_modules(monkeypatch, "plotly")
        with pytest.raises(MissingExtraError, match=r"pip install 'chainflow\[reports\]'"):
            check_reports()
        with pytest.raises(MissingExtraError):
            backtest_report(result, tmp_path / "report.html", bars=BARS)
        assert not (tmp_path / "report.html").exists()
