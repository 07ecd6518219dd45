"""Sizing a stable decision into a signal: fixed fractional lots and ATR stops."""

from __future__ import annotations

import pytest

from chainflow.risk.api import Instrument
from chainflow.trading.api import SizingPolicy, size_decision
from chainflow.trading.decision.synthesis import Decision

EURUSD = Instrument("EURUSD")


def decision(action: str) -> Decision:
    return Decision("EURUSD", 0, "m@1", action, 0.7, 0.5, ("edge",))  # type: ignore[arg-type]


def test_buy_is_sized_to_lose_one_percent_at_the_stop() -> None:
    sized = size_decision(
        decision("buy"),
        entry=1.1,
        expected_volatility=0.001,
        policy=SizingPolicy(),
        instrument=EURUSD,
    )
    # ATR stand-in 0.0011; stop 1.5 ATR = 0.00165 below; 100 / (0.00165 * 100_000) = 0.606
    assert sized.stop_loss == pytest.approx(1.09835) and sized.take_profit == pytest.approx(1.1033)
    assert sized.size == 0.6
    assert any("ATR stand-in" in r for r in sized.reasons)


def test_sell_puts_the_stop_above_and_prefers_a_given_atr() -> None:
    sized = size_decision(
        decision("sell"),
        entry=1.1,
        expected_volatility=0.5,
        policy=SizingPolicy(),
        instrument=EURUSD,
        atr=0.002,
    )
    assert sized.stop_loss == pytest.approx(1.103) and sized.take_profit == pytest.approx(1.094)
    assert sized.size == pytest.approx(0.33)


def test_hold_and_unsizable_decisions_are_size_zero_with_a_reason() -> None:
    hold = size_decision(
        decision("hold"),
        entry=1.1,
        expected_volatility=0.001,
        policy=SizingPolicy(),
        instrument=EURUSD,
    )
    assert (hold.size, hold.stop_loss, hold.take_profit) == (0.0, None, None)
    for entry, volatility, reason in ((None, 0.001, "no stored price"), (1.1, 0.0, "volatility")):
        sized = size_decision(
            decision("buy"),
            entry=entry,
            expected_volatility=volatility,
            policy=SizingPolicy(),
            instrument=EURUSD,
        )
        assert sized.size == 0.0 and sized.stop_loss is None and reason in sized.reasons[0]
    tiny = size_decision(
        decision("buy"),
        entry=1.1,
        expected_volatility=0.001,
        policy=SizingPolicy(equity=10.0),
        instrument=EURUSD,
    )
    assert tiny.size == 0.0 and any("below min lot" in r for r in tiny.reasons)
