"""``chainflow`` help: every command's choices and defaults, no ``<bool>`` noise."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chainflow.backtest.api import STRATEGIES
from chainflow.backtest.cli import BUILT_IN_STRATEGIES
from chainflow.cli import app
from chainflow.core.market import Timeframe
from chainflow.ml.training.families import FAMILIES

runner = CliRunner()
COMMANDS = [
    [],
    ["backtest"],
    ["optimize"],
    ["walkforward"],
    ["train"],
    ["import"],
    ["serve"],
    ["users"],
    ["users", "set-tier"],
    ["models"],
    ["sample-data"],
    ["db"],
    ["config"],
]


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # wrapped lines joined


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "chainflow")
def test_no_type_noise_on_flags(command: list[str]) -> None:
    assert "<bool>" not in help_of(*command)


def test_backtest_lists_every_strategy_and_timeframe() -> None:
    assert set(BUILT_IN_STRATEGIES) == set(STRATEGIES)
    text = help_of("backtest")
    for name in (*STRATEGIES, "ml"):
        assert name in text
    for timeframe in Timeframe:
        assert timeframe.value in text
    assert "[default: 10000.0]" in text


def test_train_lists_every_model_family_and_timeframe() -> None:
    text = help_of("train")
    for name in FAMILIES:
        assert name in text
    for timeframe in Timeframe:
        assert timeframe.value in text
    assert "[default: lightgbm]" in text
