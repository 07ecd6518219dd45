"""The backtest's refusals are typed errors of its ``errors.py`` that stay ``ValueError``s."""

from __future__ import annotations

import pytest

from chainflow.backtest.api import run_backtest
from chainflow.backtest.checkpoint import TrialsCheckpoint
from chainflow.backtest.errors import (
    BacktestCheckpointMismatchError,
    InvalidBacktestInputError,
    InvalidBacktestRequestError,
)
from chainflow.backtest.types import BacktestConfig
from chainflow.core.errors import Conflict, InvalidInput
from tests.backtest.builders import random_walk_bars


class TestInputErrors:
    def test_a_bad_config_is_invalid_input_and_a_value_error(self) -> None:
        with pytest.raises(InvalidBacktestInputError) as caught:
            BacktestConfig(cash=-1.0)

        error = caught.value
        assert isinstance(error, InvalidInput) and isinstance(error, ValueError)
        assert isinstance(error, InvalidBacktestRequestError)
        assert (error.code, error.status) == ("invalid_backtest_request", 422)
        assert error.message == "expected cash > 0; received -1.0"

    def test_an_unknown_strategy_names_the_choices(self) -> None:
        with pytest.raises(InvalidBacktestInputError, match="expected a strategy among"):
            run_backtest(random_walk_bars(50), "no-such-strategy", {}, BacktestConfig())


class TestCheckpointErrors:
    def test_a_checkpoint_of_another_search_is_a_conflict_and_a_value_error(self) -> None:
        with pytest.raises(BacktestCheckpointMismatchError) as caught:
            TrialsCheckpoint({"unit": "trials", "total": 3}, total=5)

        error = caught.value
        assert isinstance(error, Conflict) and isinstance(error, ValueError)
        assert (error.code, error.status) == ("backtest_checkpoint_mismatch", 409)
