"""The simulated account's scalar rules: the same in numba-compiled code and plain Python."""

from __future__ import annotations

import math
from typing import Any

import pytest
from numba import njit

from chainflow.trading.api import account

MONDAY_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@njit(cache=False)
def compiled_rules(
    side: int, bid: float, high: float, low: float, previous_ts: int, ts: int
) -> tuple[Any, ...]:
    sl, tp = account.stop_levels(side, bid + 0.0002, 0.0010, 0.0020)
    return (
        account.fill_price(side, bid, 0.0002, 0.00001),
        sl,
        tp,
        account.protective_exit(side, sl, tp, bid, high, low, 0.0002, 0.00001),
        account.commission(25_000.0, bid, 0.00002, 7.0, 100_000.0, 0.9),
        account.swap_amount(-25_000.0 * side, -6e-5, 2e-5, 3.0),
        account.rollover_nights(ts, account.TRIPLE_SWAP_WEEKDAY),
        account.nights_between(previous_ts, ts, 21, account.TRIPLE_SWAP_WEEKDAY),
        account.price_pnl(25_000.0 * side, bid, high, 0.9),
        account.margin_required(-25_000.0, bid, 0.9, 30.0),
        account.is_stopped_out(1_000.0, -900.0, 500.0, 0.5),
    )


def python_rules(
    side: int, bid: float, high: float, low: float, previous_ts: int, ts: int
) -> tuple[Any, ...]:
    return compiled_rules.py_func(side, bid, high, low, previous_ts, ts)  # type: ignore[no-any-return]


class TestCompiledEqualsPython:
    @pytest.mark.parametrize("side", [account.BUY, account.SELL])
    @pytest.mark.parametrize(
        ("bid", "high", "low"),
        [(1.1, 1.1005, 1.0995), (1.1, 1.1030, 1.0980), (1.0985, 1.0990, 1.0980), (1.2, 1.21, 1.19)],
    )
    def test_every_rule_gives_the_same_value(
        self, side: int, bid: float, high: float, low: float
    ) -> None:
        previous_ts, ts = MONDAY_MS + 20 * HOUR_MS, MONDAY_MS + 9 * DAY_MS + 21 * HOUR_MS
        compiled = compiled_rules(side, bid, high, low, previous_ts, ts)
        plain = python_rules(side, bid, high, low, previous_ts, ts)
        assert repr(compiled) == repr(plain)


class TestStops:
    def test_long_gap_fills_at_the_open_with_slippage_and_inside_the_bar_at_the_level(
        self,
    ) -> None:
        assert account.protective_exit(1, 1.099, 1.102, 1.098, 1.098, 1.098, 0.0002, 0.00001) == (
            account.STOP_LOSS,
            pytest.approx(1.09799),
        )
        assert account.protective_exit(1, 1.099, 1.102, 1.1, 1.101, 1.0985, 0.0002, 0.00001) == (
            account.STOP_LOSS,
            pytest.approx(1.09899),
        )

    def test_stop_loss_wins_inside_a_bar_touching_both_and_take_profit_has_no_slippage(
        self,
    ) -> None:
        reason, _ = account.protective_exit(1, 1.099, 1.102, 1.1, 1.103, 1.098, 0.0, 0.00001)
        assert reason == account.STOP_LOSS
        assert account.protective_exit(-1, 1.102, 1.098, 1.1, 1.1005, 1.0975, 0.0002, 0.1) == (
            account.TAKE_PROFIT,
            1.098,
        )

    def test_no_level_no_exit(self) -> None:
        reason, price = account.protective_exit(1, math.nan, math.nan, 1.1, 2.0, 0.5, 0.0, 0.0)
        assert reason == account.NO_EXIT and math.isnan(price)


class TestRollovers:
    @pytest.mark.parametrize("hour", [0, 3, 21, 22])
    def test_wednesday_session_books_three_nights_and_a_week_seven(self, hour: int) -> None:
        wednesday_session_end = (
            MONDAY_MS + 2 * DAY_MS + hour * HOUR_MS + (DAY_MS if hour < 12 else 0)
        )
        assert account.rollover_nights(wednesday_session_end, account.TRIPLE_SWAP_WEEKDAY) == 3
        week = account.nights_between(MONDAY_MS, MONDAY_MS + 7 * DAY_MS, hour, 2)
        assert week == 7

    def test_saturday_and_sunday_sessions_book_nothing(self) -> None:
        saturday_21 = MONDAY_MS + 5 * DAY_MS + 21 * HOUR_MS
        assert account.rollover_nights(saturday_21, 2) == 0
        assert account.rollover_nights(saturday_21 + DAY_MS, 2) == 0
        assert account.rollover_nights(saturday_21 + 3 * HOUR_MS, 2) == 0  # Sunday 00:00 UTC


class TestRounding:
    def test_lots_prices_and_money(self) -> None:
        assert account.floor_lots(0.29, 0.01) == 0.29
        assert account.floor_lots(0.299, 0.01) == 0.29
        assert account.round_lots(0.1 + 0.2, 0.01) == 0.3
        assert [account.step_decimals(s) for s in (0.01, 0.5, 1.0, 0.05, 0.001)] == [2, 1, 0, 2, 3]
        assert account.round_price(1.1003100000000001, 5) == 1.10031
        assert math.copysign(1.0, account.round_money(-0.004)) == 1.0
