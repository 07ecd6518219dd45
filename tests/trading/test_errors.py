"""Trading's errors: typed (wire code, status) and still ``ValueError`` for the callers that
catch it (the bar-close path, the tick path, the backtest)."""

from __future__ import annotations

import pytest

from chainflow.core.errors import ConfigurationError, InvalidInput, MalformedEventError
from chainflow.trading.decision.hysteresis import SignalStabilizer, StabilizerSettings
from chainflow.trading.decision.strategy import ModelStrategy
from chainflow.trading.decision.synthesis import DecisionInput, TradingPreferences
from chainflow.trading.errors import (
    InvalidDecisionInputError,
    InvalidStrategySettingsError,
    InvalidTradingConfigError,
    InvalidTradingStateError,
)
from chainflow.trading.paper.desk import PaperDesk
from chainflow.trading.service import prediction_from_json
from chainflow.trading.tick.queue import FairTickQueue


class TestDecisionInput:
    def test_probabilities_not_summing_to_one_are_invalid_decision_input(self) -> None:
        with pytest.raises(InvalidDecisionInputError, match="summing to 1") as caught:
            DecisionInput("EURUSD", 0, (0.5, 0.5, 0.5), "m@1")
        assert isinstance(caught.value, InvalidInput) and isinstance(caught.value, ValueError)
        assert caught.value.code == "decision_input_invalid" and caught.value.status == 422


class TestStrategySettings:
    def test_an_unknown_risk_tolerance_is_invalid_settings(self) -> None:
        with pytest.raises(InvalidStrategySettingsError, match="risk_tolerance") as caught:
            TradingPreferences("reckless")
        assert isinstance(caught.value, ValueError)
        assert caught.value.code == "strategy_settings_invalid"

    def test_a_negative_cooldown_is_invalid_settings(self) -> None:
        with pytest.raises(InvalidStrategySettingsError, match="cooldown_bars >= 0"):
            StabilizerSettings(cooldown_bars=-1)


class TestTradingConfig:
    def test_a_queue_quantum_below_one_is_a_configuration_error(self) -> None:
        with pytest.raises(InvalidTradingConfigError, match="quantum") as caught:
            FairTickQueue(0)
        assert isinstance(caught.value, ConfigurationError) and isinstance(caught.value, ValueError)
        assert caught.value.code == "trading_config_invalid"


class TestTradingState:
    def test_a_snapshot_of_another_strategy_does_not_restore(self) -> None:
        strategy = ModelStrategy(TradingPreferences("moderate"))
        with pytest.raises(InvalidTradingStateError, match="snapshot of strategy") as caught:
            strategy.restore({"name": "other", "stabilizer": {}})
        assert caught.value.code == "trading_state_invalid"

    def test_a_snapshot_of_another_version_does_not_restore(self) -> None:
        with pytest.raises(InvalidTradingStateError, match="snapshot version"):
            SignalStabilizer(StabilizerSettings()).restore({"version": 99})

    def test_a_malformed_paper_document_does_not_load(self) -> None:
        with pytest.raises(InvalidTradingStateError, match="paper account document"):
            PaperDesk(starting_balance=10_000.0).load("tenant-a", {"account": None})


class TestPredictionMessage:
    def test_a_message_that_is_not_a_prediction_is_malformed(self) -> None:
        with pytest.raises(MalformedEventError, match="PredictionMade") as caught:
            prediction_from_json(b"[1, 2]")
        assert isinstance(caught.value, ValueError) and caught.value.code == "event_malformed"
