"""Walk-forward analysis: exact windows, stitched equity, efficiency, stability, ML retrain."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.model_training import WindowModelTrainer
from chainflow.backtest.search_space import Choice
from chainflow.backtest.types import BacktestConfig
from chainflow.backtest.walkforward import (
    TrainedModel,
    Window,
    walk_forward,
    walk_forward_windows,
)
from chainflow.core.market import BarSeries
from tests.backtest.builders import random_walk_bars

BARS = random_walk_bars(2_400, seed=5)
CONFIG = BacktestConfig(cash=10_000.0, commission=0.0001)
SPACE = {"fast": Choice((5, 10)), "slow": Choice((30, 60))}


class TestWindows:
    def test_rolling_windows_by_hand(self) -> None:
        assert walk_forward_windows(100, 40, 20) == [
            Window(0, 0, 40, 40, 60),
            Window(1, 20, 60, 60, 80),
            Window(2, 40, 80, 80, 100),
        ]

    def test_rolling_windows_with_a_step_drop_the_partial_tail(self) -> None:
        assert walk_forward_windows(95, 40, 20, step=30) == [
            Window(0, 0, 40, 40, 60),
            Window(1, 30, 70, 70, 90),
        ]

    def test_anchored_windows_grow_from_bar_zero(self) -> None:
        assert walk_forward_windows(100, 40, 20, anchored=True) == [
            Window(0, 0, 40, 40, 60),
            Window(1, 0, 60, 60, 80),
            Window(2, 0, 80, 80, 100),
        ]

    def test_too_few_bars_are_refused(self) -> None:
        with pytest.raises(ValueError, match="expected at least in_sample"):
            walk_forward_windows(50, 40, 20)
        with pytest.raises(ValueError, match="expected out_of_sample >= 1"):
            walk_forward_windows(50, 40, 0)


@pytest.fixture(scope="module")
def analysis():  # type: ignore[no-untyped-def]
    return walk_forward(
        BARS,
        "sma_crossover",
        SPACE,
        in_sample=800,
        out_of_sample=400,
        config=CONFIG,
        workers=1,
        objective="return_pct",
    )


class TestWalkForward:
    def test_each_window_tests_its_best_in_sample_params_out_of_sample(self, analysis) -> None:  # type: ignore[no-untyped-def]
        assert [w.window for w in analysis.windows] == walk_forward_windows(2_400, 800, 400)
        for w in analysis.windows:
            best = max(
                ((f, s) for f in (5, 10) for s in (30, 60)),
                key=lambda p: run_backtest(
                    BARS.slice(w.window.is_start, w.window.is_stop),
                    "sma_crossover",
                    {"fast": p[0], "slow": p[1]},
                    CONFIG,
                ).metrics["return_pct"],
            )
            assert (w.params["fast"], w.params["slow"]) == best
            # the in-sample bars warm the strategy up; only the out-of-sample block trades
            oos = run_backtest(
                BARS.slice(w.window.is_start, w.window.oos_stop),
                "sma_crossover",
                w.params,
                CONFIG,
                trade_from=w.window.oos_start - w.window.is_start,
            )
            np.testing.assert_allclose(w.oos_equity, oos.equity)
            np.testing.assert_array_equal(w.oos_ts, BARS.ts[w.window.oos_start : w.window.oos_stop])
            assert w.oos_metrics == pytest.approx(oos.metrics, nan_ok=True)
            assert w.oos_from_ts == BARS.ts[w.window.oos_start]
            assert w.oos_to_ts == BARS.ts[w.window.oos_stop - 1]
            assert w.is_to_ts < w.oos_from_ts

    def test_stitched_equity_chains_each_window_from_the_previous_end(self, analysis) -> None:  # type: ignore[no-untyped-def]
        start = 0
        previous_end = CONFIG.cash
        for w in analysis.windows:
            segment = analysis.equity[start : start + len(w.oos_equity)]
            np.testing.assert_allclose(segment, previous_end * w.oos_equity / CONFIG.cash)
            previous_end = float(segment[-1])
            start += len(w.oos_equity)
        assert start == len(analysis.equity) == 4 * 400
        growth = np.prod([w.oos_equity[-1] / CONFIG.cash for w in analysis.windows])
        assert analysis.final_equity == pytest.approx(CONFIG.cash * growth)
        assert np.all(np.diff(analysis.ts) > 0)

    def test_efficiency_is_annualized_oos_over_annualized_is_return(self, analysis) -> None:  # type: ignore[no-untyped-def]
        per_year = analysis.bars_per_year
        for w in analysis.windows:
            is_rate = w.is_metrics["return_pct"] / 100 * per_year / 800
            oos_rate = w.oos_metrics["return_pct"] / 100 * per_year / 400
            assert w.is_annual_return == pytest.approx(is_rate)
            assert w.oos_annual_return == pytest.approx(oos_rate)
            assert w.efficiency == (pytest.approx(oos_rate / is_rate) if is_rate > 0 else None)
        stitched = (analysis.final_equity / CONFIG.cash - 1) * per_year / 1600
        is_mean = np.mean([w.is_annual_return for w in analysis.windows])
        assert analysis.oos_annual_return == pytest.approx(stitched)
        expected = stitched / is_mean if is_mean > 0 else None
        assert analysis.efficiency == (pytest.approx(expected) if expected else None)

    def test_parameter_stability_by_hand(self, analysis) -> None:  # type: ignore[no-untyped-def]
        fast = [w.params["fast"] for w in analysis.windows]
        entry = analysis.stability["fast"]
        assert entry["values"] == fast
        mode = max(set(fast), key=lambda v: (fast.count(v), -fast.index(v)))
        assert entry["mode"] == mode
        assert entry["mode_share"] == fast.count(mode) / len(fast)
        assert entry["cv"] == pytest.approx(np.std(fast) / abs(np.mean(fast)))

    def test_json_has_the_window_table(self, analysis) -> None:  # type: ignore[no-untyped-def]
        data = analysis.to_json()
        assert data["windows"] == 4 and len(data["window_results"]) == 4
        assert data["window_results"][1]["oos_start"] == 1200
        assert {"efficiency", "stability", "final_equity", "sharpe"} <= set(data)

    def test_anchored_and_empty_space_runs_base_params(self) -> None:
        result = walk_forward(
            BARS,
            "sma_crossover",
            {},
            in_sample=1000,
            out_of_sample=700,
            anchored=True,
            config=CONFIG,
            base_params={"fast": 7, "slow": 40},
            workers=1,
        )
        assert [w.window.is_start for w in result.windows] == [0, 0]
        assert all(w.params == {"fast": 7, "slow": 40} for w in result.windows)


def ml_bars(n: int) -> BarSeries:
    bars = random_walk_bars(n, seed=21, with_spread=True)
    return BarSeries.from_arrays(
        ts=1_704_067_200_000 + np.arange(n, dtype=np.int64) * 300_000,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        close=bars.close,
        volume=np.full(n, 50.0),
        spread=bars.spread,
        symbol="EURUSD",
        timeframe="M5",
    )


class TestModelRetraining:
    def test_no_model_sees_its_test_window(self) -> None:
        bars = ml_bars(1_500)
        trainer = WindowModelTrainer(horizon=6, threads=1)
        seen: list[tuple[int, int]] = []

        def recording(in_sample: BarSeries, *, seed: int) -> TrainedModel:
            seen.append((int(in_sample.ts[0]), int(in_sample.ts[-1])))
            return trainer(in_sample, seed=seed)

        result = walk_forward(
            bars,
            "ml",
            {},
            in_sample=600,
            out_of_sample=300,
            step=450,
            config=CONFIG,
            trainer=recording,
            workers=1,
        )

        assert len(result.windows) == 2
        for w, (first, last) in zip(result.windows, seen, strict=True):
            training = w.training
            assert training is not None
            assert (first, last) == (w.is_from_ts, w.is_to_ts)  # only in-sample bars given
            # labels are purged: the last label ends inside the in-sample block
            assert training.label_end_ts <= w.is_to_ts < w.oos_from_ts
            horizon_ms = 6 * 300_000
            assert training.train_to_ts <= w.is_to_ts - horizon_ms
            assert training.train_from_ts >= w.is_from_ts
            assert w.oos_equity.shape == (300,)
        assert result.windows[0].training.label_end_ts != result.windows[1].training.label_end_ts
        assert result.to_json()["window_results"][0]["training"]["rows"] > 50

    def test_a_search_with_a_trainer_is_refused(self) -> None:
        with pytest.raises(ValueError, match="no parameter search"):
            walk_forward(
                ml_bars(400),
                "ml",
                SPACE,
                in_sample=200,
                out_of_sample=100,
                trainer=WindowModelTrainer(),
            )
