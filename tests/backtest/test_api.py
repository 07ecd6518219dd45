"""The public interface: strategy specs, parameter parsing, engine choice, JSON, pickling."""

from __future__ import annotations

import json
import pickle

import pytest

from chainflow.backtest.api import STRATEGIES, parse_params, run_backtest
from chainflow.backtest.types import BacktestConfig
from tests.backtest.builders import ScriptedStrategy, random_walk_bars


class TestStrategies:
    def test_the_six_built_ins_are_listed_and_vectorizable(self) -> None:
        assert set(STRATEGIES) == {
            "sma_crossover",
            "ema_crossover",
            "rsi_mean_reversion",
            "bollinger_breakout",
            "macd",
            "donchian_breakout",
        }
        assert all(spec.vectorizable and spec.description for spec in STRATEGIES.values())


class TestParseParams:
    def test_strings_are_coerced_and_defaults_filled(self) -> None:
        assert parse_params("sma_crossover", {"fast": "5"}) == {"fast": 5, "slow": 30}

    def test_unknown_strategy_lists_the_choices(self) -> None:
        with pytest.raises(ValueError, match="expected a strategy among .*'macd'"):
            parse_params("nope", {})

    def test_unknown_parameter_lists_the_allowed(self) -> None:
        with pytest.raises(ValueError, match=r"among \['fast', 'slow'\]; received unknown"):
            parse_params("ema_crossover", {"period": 3})

    def test_invalid_value_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="expected valid parameters"):
            parse_params("sma_crossover", {"fast": "40", "slow": "30"})


class TestRunBacktest:
    def test_auto_takes_the_vectorized_path_for_built_ins(self) -> None:
        result = run_backtest(random_walk_bars(500, 1), "sma_crossover", {"fast": "5"})
        assert result.engine == "vectorized" and result.params == {"fast": 5, "slow": 30}
        assert result.strategy == "sma_crossover" and result.trades

    def test_auto_runs_other_strategies_on_the_event_engine_and_says_so(self) -> None:
        strategy = ScriptedStrategy([1, 0, -1, 0, 0])
        result = run_backtest(random_walk_bars(5, 1), strategy)
        assert result.engine == "event" and "event engine" in result.notes[0]
        assert [t.side for t in result.trades] == ["long", "short"]

    def test_vectorized_refuses_a_per_bar_strategy(self) -> None:
        with pytest.raises(ValueError, match="expected a strategy with a batch signals array"):
            run_backtest(random_walk_bars(5, 1), ScriptedStrategy([0] * 5), engine="vectorized")

    def test_json_has_the_required_keys_and_is_strict_json(self) -> None:
        result = run_backtest(random_walk_bars(800, 2), "macd", config=BacktestConfig(cash=5000))
        data = result.to_json()
        for key in (
            "trades",
            "final_equity",
            "return_pct",
            "sharpe",
            "max_drawdown_pct",
            "win_rate_pct",
            "profit_factor",
            "elapsed_s",
            "params",
            "strategy",
            "engine",
        ):
            assert key in data
        assert data["trades"] == len(result.trades)
        assert "trade_log" not in data
        json.dumps(data, allow_nan=False)
        curves = result.to_json(include_curves=True)
        assert len(curves["trade_log"]) == len(result.trades)
        assert len(curves["equity_curve"]) == len(curves["drawdown_curve"]) == 800
        json.dumps(curves, allow_nan=False)

    def test_profit_factor_without_losses_is_null_in_json(self) -> None:
        strategy = ScriptedStrategy([1, 0, 0])
        bars = random_walk_bars(3, 1)
        result = run_backtest(bars, strategy, config=BacktestConfig(sizing="fixed", size=1))
        if result.trades[0].pnl > 0:
            assert result.to_json()["profit_factor"] is None

    def test_result_and_config_pickle(self) -> None:
        config = BacktestConfig(stop_loss=0.001)
        result = run_backtest(random_walk_bars(300, 3), "rsi_mean_reversion", config=config)
        again = pickle.loads(pickle.dumps(result))
        assert again.trades == result.trades and again.metrics == pytest.approx(
            result.metrics, nan_ok=True
        )
        assert pickle.loads(pickle.dumps(config)) == config

    def test_bad_config_says_what_was_expected(self) -> None:
        with pytest.raises(ValueError, match="expected stop_loss with sizing 'risk'"):
            BacktestConfig(sizing="risk")


class TestAcceptanceChecks:
    def test_fit_space_refuses_unknown_names_and_makes_integer_ranges(self) -> None:
        from chainflow.backtest.api import fit_space
        from chainflow.backtest.search_space import Range

        with pytest.raises(ValueError, match=r"among \['fast', 'slow'\]; received unknown"):
            fit_space("sma_crossover", {"bogus": Range(1, 2)})
        fitted = fit_space(
            "rsi_mean_reversion", {"period": Range(4.5, 9.7), "lower": Range(20, 30)}
        )
        assert fitted == {"period": Range(5, 9, 1), "lower": Range(20, 30)}  # float stays
        with pytest.raises(ValueError, match="expected an integer in the range"):
            fit_space("sma_crossover", {"fast": Range(5.2, 5.8)})

    def test_check_bar_count_needs_more_than_the_warm_up(self) -> None:
        from chainflow.backtest.api import check_bar_count

        check_bar_count("macd", {"fast": 12, "slow": 26, "signal": 9}, 36)
        with pytest.raises(ValueError, match="expected more than 35 bars for macd"):
            check_bar_count("macd", {"fast": 12, "slow": 26, "signal": 9}, 35)

    def test_load_compiled_runs_each_built_in(self) -> None:
        from chainflow.backtest.api import load_compiled

        for name in STRATEGIES:
            load_compiled(name, parse_params(name, {}), "auto")

    def test_swap_paid_is_never_negative_zero(self) -> None:
        import math

        result = run_backtest(random_walk_bars(300, 3), "sma_crossover", {"fast": 5})
        assert math.copysign(1.0, result.metrics["swap_paid"]) == 1.0

    def test_job_request_with_from_after_to_is_refused(self) -> None:
        from pydantic import ValidationError

        from chainflow.backtest.schemas import BacktestJobCreate

        with pytest.raises(ValidationError, match="expected from before to"):
            BacktestJobCreate.model_validate(
                {
                    "symbol": "EURUSD",
                    "timeframe": "M5",
                    "strategy": "macd",
                    "from": "2026-01-10",
                    "to": "2026-01-05",
                }
            )

    def test_job_with_an_unknown_objective_is_refused(self) -> None:
        from chainflow.backtest.errors import InvalidBacktestRequestError
        from chainflow.backtest.jobs import plan_job
        from chainflow.backtest.schemas import BacktestJobCreate

        request = BacktestJobCreate.model_validate(
            {
                "kind": "optimize",
                "symbol": "EURUSD",
                "timeframe": "M5",
                "strategy": "macd",
                "grid": {"signal": [5, 9]},
                "objective": "nope",
            }
        )
        with pytest.raises(InvalidBacktestRequestError, match="expected an objective among"):
            plan_job(request)
