"""Self-contained HTML reports: written, offline (no remote scripts), with the figures."""

from __future__ import annotations

import re
from pathlib import Path

from chainflow.backtest.api import run_backtest
from chainflow.backtest.optimize import Evaluation, optimize
from chainflow.backtest.report import backtest_report, optimization_report, walkforward_report
from chainflow.backtest.search_space import Choice
from chainflow.backtest.types import BacktestConfig
from chainflow.backtest.walkforward import walk_forward
from tests.backtest.builders import random_walk_bars

BARS = random_walk_bars(1_500, seed=3)
REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", re.IGNORECASE)


def assert_offline(text: str) -> None:
    assert REMOTE_SCRIPT.search(text) is None
    assert "<link" not in text  # no remote stylesheet either
    assert "Plotly.newPlot" in text and "plotly.js" in text.lower()


class TestBacktestReport:
    def test_report_is_self_contained_with_metrics_and_trades(self, tmp_path: Path) -> None:
        result = run_backtest(BARS, "sma_crossover", {"fast": 5, "slow": 20})
        path = backtest_report(result, tmp_path / "out" / "report.html", bars=BARS)

        text = path.read_text(encoding="utf-8")
        assert_offline(text)
        assert text.count("Plotly.newPlot") == 3  # equity, drawdown, price with trades
        assert "sharpe" in text and f"{result.metrics['sharpe']:.6g}" in text
        assert f"{result.metrics['final_equity']:.6g}" in text
        assert ">Trades<" in text and text.count("<tr>") >= len(result.trades) + 1
        assert "long entry" in text


class TestOptimizationReport:
    def test_report_has_the_heatmap_and_the_trials(self, tmp_path: Path) -> None:
        evaluation = Evaluation(BARS, "sma_crossover", BacktestConfig(), {}, "auto")
        space = {"fast": Choice((5, 10)), "slow": Choice((20, 40))}
        result = optimize(evaluation, space, workers=1)
        path = optimization_report(result, tmp_path / "opt.html")

        text = path.read_text(encoding="utf-8")
        assert_offline(text)
        assert '"type":"heatmap"' in text.replace(" ", "")
        assert "sharpe by fast and slow" in text
        assert f"{result.trials[0].score:.6g}" in text


class TestWalkForwardReport:
    def test_report_has_the_stitched_equity_and_windows(self, tmp_path: Path) -> None:
        result = walk_forward(
            BARS,
            "sma_crossover",
            {"fast": Choice((5, 10))},
            in_sample=500,
            out_of_sample=250,
            base_params={"slow": 30},
            workers=1,
        )
        path = walkforward_report(result, tmp_path / "wf.html")

        text = path.read_text(encoding="utf-8")
        assert_offline(text)
        assert "Stitched out-of-sample equity" in text and "Parameter stability" in text
        assert text.count("fast=") >= len(result.windows)
