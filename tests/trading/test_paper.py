"""Paper account: fills without lookahead, limits, SL/TP, netting, P&L and margin."""

from __future__ import annotations

import pytest

from chainflow.core.errors import InvalidInput
from chainflow.trading.paper.account import PaperAccount
from chainflow.trading.paper.positions import (
    FillReason,
    OrderKind,
    OrderSide,
    PaperFill,
    PaperInstrument,
    PaperOrder,
    PaperOrderAccepted,
    PaperOrderRejected,
    PaperTrade,
)

MONDAY_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
EURUSD = PaperInstrument("EURUSD")
USDJPY = PaperInstrument("USDJPY", price_digits=3, pip_size=0.01, quote_to_account=1 / 150)


def make_account(balance: float = 10_000.0, leverage: float = 100.0) -> PaperAccount:
    return PaperAccount([EURUSD, USDJPY], starting_balance=balance, leverage=leverage)


def make_order(side: str = "buy", lots: float = 1.0, ts: int = MONDAY_MS, **extra) -> PaperOrder:
    return PaperOrder(symbol=extra.pop("symbol", "EURUSD"), side=side, lots=lots, ts=ts, **extra)


def fills_of(events: list) -> list[PaperFill]:
    return [event for event in events if isinstance(event, PaperFill)]


def trades_of(events: list) -> list[PaperTrade]:
    return [event for event in events if isinstance(event, PaperTrade)]


class TestSubmit:
    def test_market_buy_fills_at_next_tick_ask_never_the_submitting_tick(self) -> None:
        account = make_account()
        assert account.on_tick("EURUSD", MONDAY_MS, 1.10000, 1.10020) == []
        accepted = account.submit(make_order(ts=MONDAY_MS))
        assert isinstance(accepted, PaperOrderAccepted)
        events = account.on_tick("EURUSD", MONDAY_MS + 1_000, 1.10050, 1.10070)
        [fill] = fills_of(events)
        assert (fill.price, fill.ts, fill.order_id) == (1.10070, MONDAY_MS + 1_000, 1)
        assert account.positions["EURUSD"].entry_price == 1.10070

    def test_order_queued_before_its_own_tick_waits_for_a_later_tick(self) -> None:
        account = make_account()
        account.submit(make_order(side="sell", ts=MONDAY_MS))
        assert account.on_tick("EURUSD", MONDAY_MS, 1.10000, 1.10020) == []
        [fill] = fills_of(account.on_tick("EURUSD", MONDAY_MS + 1, 1.09990, 1.10010))
        assert (fill.side, fill.price) == (OrderSide.SELL, 1.09990)

    def test_tick_of_another_symbol_fills_nothing(self) -> None:
        account = make_account()
        account.submit(make_order())
        assert account.on_tick("USDJPY", MONDAY_MS + 1, 150.0, 150.02) == []
        assert len(account.pending_orders) == 1

    def test_lots_rounded_down_to_lot_step(self) -> None:
        accepted = make_account().submit(make_order(lots=0.257))
        assert isinstance(accepted, PaperOrderAccepted)
        assert accepted.order.lots == 0.25

    @pytest.mark.parametrize("lots", [0.004, 0.0, -1.0, 150.0])
    def test_lots_outside_limits_rejected_as_value(self, lots: float) -> None:
        rejected = make_account().submit(make_order(lots=lots))
        assert isinstance(rejected, PaperOrderRejected)
        assert rejected.reason.startswith("expected lots in [0.01, 100.0]")

    def test_unknown_symbol_rejected(self) -> None:
        rejected = make_account().submit(make_order(symbol="XAUUSD"))
        assert isinstance(rejected, PaperOrderRejected)
        assert "received 'XAUUSD'" in rejected.reason

    def test_stop_loss_above_take_profit_on_buy_rejected(self) -> None:
        rejected = make_account().submit(make_order(stop_loss=1.2, take_profit=1.1))
        assert isinstance(rejected, PaperOrderRejected)
        assert "stop_loss < limit_price < take_profit" in rejected.reason

    def test_cancel_removes_queued_order(self) -> None:
        account = make_account()
        accepted = account.submit(make_order())
        assert isinstance(accepted, PaperOrderAccepted)
        assert account.cancel(accepted.order_id) is True
        assert account.cancel(accepted.order_id) is False
        assert account.on_tick("EURUSD", MONDAY_MS + 1, 1.1, 1.1002) == []


class TestMargin:
    def test_order_beyond_free_margin_rejected_with_reason(self) -> None:
        account = make_account(balance=1_000.0, leverage=100.0)
        account.on_tick("EURUSD", MONDAY_MS, 1.10000, 1.10000)
        rejected = account.submit(make_order(lots=1.0))  # needs 1100 USD of margin
        assert isinstance(rejected, PaperOrderRejected)
        assert rejected.reason == (
            "expected required margin ≤ free margin 1000.00 USD; received 1100.00 USD"
        )
        assert account.rejections == [rejected]

    def test_margin_used_and_free_margin_after_fill(self) -> None:
        account = make_account(balance=10_000.0, leverage=100.0)
        account.submit(make_order(lots=1.0))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10000)
        assert account.margin_used == pytest.approx(1_100.0)
        assert account.free_margin == pytest.approx(10_000.0 - 1_100.0)

    def test_reducing_order_accepted_even_without_free_margin(self) -> None:
        account = make_account(balance=1_200.0, leverage=100.0)
        account.submit(make_order(lots=1.0))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10000)
        assert isinstance(account.submit(make_order(side="sell", lots=0.5)), PaperOrderAccepted)

    def test_margin_checked_again_at_fill_when_no_price_known(self) -> None:
        account = make_account(balance=1_000.0, leverage=100.0)
        assert isinstance(account.submit(make_order(lots=1.0)), PaperOrderAccepted)
        [rejected] = account.on_tick("EURUSD", MONDAY_MS + 1, 1.1, 1.1)
        assert isinstance(rejected, PaperOrderRejected)
        assert rejected.order_id == 1 and rejected.ts == MONDAY_MS + 1
        assert account.positions == {} and account.pending_orders == {}


class TestLimitOrders:
    def test_buy_limit_fills_only_once_ask_reaches_limit(self) -> None:
        account = make_account()
        account.submit(make_order(kind=OrderKind.LIMIT, limit_price=1.09950))
        assert account.on_tick("EURUSD", MONDAY_MS + 1, 1.09940, 1.09960) == []
        [fill] = fills_of(account.on_tick("EURUSD", MONDAY_MS + 2, 1.09925, 1.09945))
        assert fill.price == 1.09945  # the ask, at or better than the limit

    def test_sell_limit_fills_only_once_bid_reaches_limit(self) -> None:
        account = make_account()
        account.submit(make_order(side="sell", kind="limit", limit_price=1.10100))
        assert account.on_tick("EURUSD", MONDAY_MS + 1, 1.10090, 1.10110) == []
        [fill] = fills_of(account.on_tick("EURUSD", MONDAY_MS + 2, 1.10100, 1.10120))
        assert fill.price == 1.10100

    def test_limit_without_price_rejected(self) -> None:
        rejected = make_account().submit(make_order(kind="limit"))
        assert isinstance(rejected, PaperOrderRejected)


class TestProtectiveExits:
    def test_long_stop_loss_closes_at_bid(self) -> None:
        account = make_account()
        account.submit(make_order(stop_loss=1.09900, take_profit=1.10500))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10010)
        assert account.on_tick("EURUSD", MONDAY_MS + 2, 1.09910, 1.09920) == []
        events = account.on_tick("EURUSD", MONDAY_MS + 3, 1.09880, 1.09890)
        [trade] = trades_of(events)
        assert (trade.exit_price, trade.exit_reason) == (1.09880, FillReason.STOP_LOSS)
        assert trade.pnl == pytest.approx(-130.0)
        assert account.positions == {}

    def test_short_take_profit_closes_at_ask(self) -> None:
        account = make_account()
        account.submit(make_order(side="sell", stop_loss=1.10500, take_profit=1.09900))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10010)
        [trade] = trades_of(account.on_tick("EURUSD", MONDAY_MS + 2, 1.09880, 1.09895))
        assert (trade.exit_price, trade.exit_reason) == (1.09895, FillReason.TAKE_PROFIT)
        assert trade.pnl == pytest.approx(105.0)

    def test_short_stop_loss_closes_at_ask(self) -> None:
        account = make_account()
        account.submit(make_order(side="sell", stop_loss=1.10100))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10010)
        [trade] = trades_of(account.on_tick("EURUSD", MONDAY_MS + 2, 1.10090, 1.10105))
        assert (trade.exit_price, trade.exit_reason) == (1.10105, FillReason.STOP_LOSS)


class TestNetting:
    def test_same_side_adds_at_weighted_average_entry(self) -> None:
        account = make_account()
        account.submit(make_order(lots=1.0))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10000)
        account.submit(make_order(lots=3.0, ts=MONDAY_MS + 1))
        account.on_tick("EURUSD", MONDAY_MS + 2, 1.10040, 1.10040)
        position = account.positions["EURUSD"]
        assert position.lots == 4.0
        assert position.entry_price == pytest.approx(1.10030)

    def test_opposite_order_reduces_then_closes(self) -> None:
        account = make_account()
        account.submit(make_order(lots=0.03))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10000)
        account.submit(make_order(side="sell", lots=0.01, ts=MONDAY_MS + 1))
        account.on_tick("EURUSD", MONDAY_MS + 2, 1.10100, 1.10100)
        assert account.positions["EURUSD"].lots == 0.02
        account.submit(make_order(side="sell", lots=0.02, ts=MONDAY_MS + 2))
        account.on_tick("EURUSD", MONDAY_MS + 3, 1.10100, 1.10100)
        assert account.positions == {}
        assert [trade.lots for trade in account.trades] == [0.01, 0.02]
        assert [trade.pnl for trade in account.trades] == [1.0, 2.0]

    def test_larger_opposite_order_reverses_at_fill_price(self) -> None:
        account = make_account()
        account.submit(make_order(lots=1.0, signal_id="s1"))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10000)
        account.submit(make_order(side="sell", lots=1.5, ts=MONDAY_MS + 1, signal_id="s2"))
        events = account.on_tick("EURUSD", MONDAY_MS + 2, 1.10050, 1.10060)
        [trade] = trades_of(events)
        assert (trade.lots, trade.pnl, trade.signal_id, trade.exit_signal_id) == (
            1.0,
            50.0,
            "s1",
            "s2",
        )
        position = account.positions["EURUSD"]
        assert (position.side, position.lots, position.entry_price) == (
            OrderSide.SELL,
            0.5,
            1.10050,
        )
        assert position.signal_id == "s2"

    def test_close_position_queues_flattening_order(self) -> None:
        account = make_account()
        assert account.close_position("EURUSD", MONDAY_MS) is None
        account.submit(make_order(lots=0.7))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.1, 1.1)
        assert isinstance(account.close_position("EURUSD", MONDAY_MS + 1), PaperOrderAccepted)
        account.on_tick("EURUSD", MONDAY_MS + 2, 1.1, 1.1)
        assert account.positions == {}


class TestProfitAndLoss:
    def test_eurusd_one_lot_ten_pips_is_100_usd(self) -> None:
        account = make_account()
        account.submit(make_order(lots=1.0))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10010)
        account.on_tick("EURUSD", MONDAY_MS + 2, 1.10110, 1.10120)
        assert account.unrealized_pnl == pytest.approx(100.0)  # long marked at the bid
        assert account.equity == pytest.approx(10_100.0)
        account.close_position("EURUSD", MONDAY_MS + 2)
        account.on_tick("EURUSD", MONDAY_MS + 3, 1.10110, 1.10120)
        [trade] = account.trades
        assert (trade.entry_price, trade.exit_price, trade.pnl) == (1.10010, 1.10110, 100.0)
        assert account.balance == 10_100.0
        summary = account.summary()
        assert (summary.realized_pnl, summary.unrealized_pnl, summary.trades_count) == (
            100.0,
            0.0,
            1,
        )

    def test_short_marked_at_ask(self) -> None:
        account = make_account()
        account.submit(make_order(side="sell", lots=1.0))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10010)
        account.on_tick("EURUSD", MONDAY_MS + 2, 1.09900, 1.09920)
        assert account.unrealized_pnl == pytest.approx(80.0)

    def test_usdjpy_converts_with_one_over_price(self) -> None:
        account = make_account()
        account.submit(make_order(symbol="USDJPY", lots=1.0))
        account.on_tick("USDJPY", MONDAY_MS + 1, 149.990, 150.000, quote_to_account=1 / 150.0)
        account.close_position("USDJPY", MONDAY_MS + 1)
        account.on_tick("USDJPY", MONDAY_MS + 2, 150.100, 150.110, quote_to_account=1 / 150.1)
        [trade] = account.trades
        assert trade.pnl == round(0.1 * 100_000 / 150.1, 2) == 66.62
        assert account.balance == 10_066.62

    def test_max_drawdown_tracks_worst_equity_drop(self) -> None:
        account = make_account()
        account.submit(make_order(lots=1.0))
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.10000, 1.10000)
        account.on_tick("EURUSD", MONDAY_MS + 2, 1.10200, 1.10200)  # +200
        account.on_tick("EURUSD", MONDAY_MS + 3, 1.09900, 1.09900)  # -100
        account.on_tick("EURUSD", MONDAY_MS + 4, 1.10000, 1.10000)
        summary = account.summary()
        assert summary.max_drawdown == 300.0
        assert summary.max_drawdown_fraction == round(300.0 / 10_200.0, 6)


class TestOnTick:
    def test_crossed_quote_raises_invalid_input(self) -> None:
        with pytest.raises(InvalidInput, match="expected 0 < bid ≤ ask"):
            make_account().on_tick("EURUSD", MONDAY_MS, 1.2, 1.1)

    def test_time_going_back_raises_invalid_input(self) -> None:
        account = make_account()
        account.on_tick("EURUSD", MONDAY_MS, 1.1, 1.1)
        with pytest.raises(InvalidInput, match="expected ts ≥ last tick ts"):
            account.on_tick("EURUSD", MONDAY_MS - 1, 1.1, 1.1)

    def test_prices_rounded_to_symbol_digits(self) -> None:
        account = make_account()
        account.submit(make_order())
        [fill] = fills_of(account.on_tick("EURUSD", MONDAY_MS + 1, 1.1000049, 1.1000151))
        assert fill.price == 1.10002

    def test_equity_curve_keeps_one_point_per_minute_and_is_bounded(self) -> None:
        account = PaperAccount([EURUSD], starting_balance=1_000, leverage=10, equity_curve_limit=3)
        for second in range(0, 300, 10):
            account.on_tick("EURUSD", MONDAY_MS + second * 1_000, 1.1, 1.1)
        assert [ts for ts, _ in account.equity_curve] == [
            MONDAY_MS + minute * 60_000 for minute in (2, 3, 4)
        ]
