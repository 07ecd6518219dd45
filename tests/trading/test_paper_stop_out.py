"""Paper account stop-out: below ``stop_out_level`` × margin the most losing position closes.

Leverage 100 and a 10 000 balance: 4-5 lots of EURUSD use about half the balance as
margin, so a drop of 1.5-2 cents takes equity below half the margin (MT5's default 50 %).
"""

from __future__ import annotations

import json
import math

import pytest

from chainflow.core.errors import InvalidInput
from chainflow.trading.account import functions as account_rules
from chainflow.trading.paper.account import PaperAccount
from chainflow.trading.paper.desk import PaperDesk, PaperSignal
from chainflow.trading.paper.positions import (
    FillReason,
    OrderSide,
    PaperFill,
    PaperInstrument,
    PaperOrder,
    PaperOrderAccepted,
    PaperTrade,
)

MONDAY_MS = 1_704_067_200_000 + 8 * 3_600_000  # 2024-01-01 08:00 UTC: no rollover below
SECOND = 1_000
EURUSD = PaperInstrument("EURUSD")
GBPUSD = PaperInstrument("GBPUSD")


def make_account(*instruments: PaperInstrument, stop_out_level: float = 0.5) -> PaperAccount:
    return PaperAccount(
        list(instruments) or [EURUSD, GBPUSD],
        starting_balance=10_000.0,
        leverage=100.0,
        stop_out_level=stop_out_level,
    )


def open_long(account: PaperAccount, symbol: str, lots: float, ts: int, bid: float) -> int:
    """Fill a long of ``lots`` at ``bid`` + 2 points on the tick at ``ts`` + 1 s; return that ts."""
    account.on_tick(symbol, ts, bid, round(bid + 0.0002, 5))
    accepted = account.submit(PaperOrder(symbol=symbol, side=OrderSide.BUY, lots=lots, ts=ts))
    assert isinstance(accepted, PaperOrderAccepted)
    filled_at = ts + SECOND
    [fill] = fills_of(account.on_tick(symbol, filled_at, bid, round(bid + 0.0002, 5)))
    assert fill.reason is FillReason.ORDER
    return filled_at


def fills_of(events: list) -> list[PaperFill]:
    return [event for event in events if isinstance(event, PaperFill)]


def trades_of(events: list) -> list[PaperTrade]:
    return [event for event in events if isinstance(event, PaperTrade)]


def below_level(account: PaperAccount) -> bool:
    return account_rules.is_stopped_out(
        account.balance, account.unrealized_pnl, account.margin_used, account.stop_out_level
    )


class TestOnePosition:
    def test_above_the_level_the_position_stays(self) -> None:
        account = make_account()
        ts = open_long(account, "EURUSD", 5.0, MONDAY_MS, 1.10000)  # at 1.10020
        # -5100 open: equity 4900, half the margin 2725.
        assert account.on_tick("EURUSD", ts + SECOND, 1.09000, 1.09020) == []
        assert "EURUSD" in account.positions
        assert not below_level(account)

    def test_below_the_level_closes_at_the_bid_with_reason_stop_out(self) -> None:
        account = make_account()
        ts = open_long(account, "EURUSD", 5.0, MONDAY_MS, 1.10000)
        # -7600 open: equity 2400 < half the margin at the mark (5425 / 2).
        events = account.on_tick("EURUSD", ts + SECOND, 1.08500, 1.08520)
        [fill] = fills_of(events)
        [trade] = trades_of(events)
        assert (fill.order_id, fill.side, fill.lots, fill.price) == (None, "sell", 5.0, 1.085)
        assert (fill.reason, fill.ts) == (FillReason.STOP_OUT, ts + SECOND)
        assert (trade.exit_reason, trade.exit_price, trade.pnl) == ("stop_out", 1.085, -7600.0)
        assert account.positions == {}
        assert account.balance == pytest.approx(2_400.0)
        assert account.equity_curve[-1][1] == pytest.approx(2_400.0)  # marked after the close

    def test_a_short_closes_at_the_ask_with_slippage_and_commission(self) -> None:
        costly = PaperInstrument("EURUSD", commission_per_lot=7.0, slippage=0.00001)
        account = make_account(costly)
        account.on_tick("EURUSD", MONDAY_MS, 1.10000, 1.10020)
        account.submit(PaperOrder(symbol="EURUSD", side=OrderSide.SELL, lots=5.0, ts=MONDAY_MS))
        account.on_tick("EURUSD", MONDAY_MS + SECOND, 1.10000, 1.10020)  # short at 1.09999
        events = account.on_tick("EURUSD", MONDAY_MS + 2 * SECOND, 1.11500, 1.11520)
        [fill] = fills_of(events)
        [trade] = trades_of(events)
        assert (fill.side, fill.price, fill.commission) == ("buy", 1.11521, 35.0)
        assert (trade.exit_reason, trade.pnl, trade.commission) == ("stop_out", -7610.0, 70.0)
        assert account.balance == pytest.approx(10_000.0 - 7_610.0 - 70.0)
        assert account.commissions == pytest.approx(70.0)

    def test_level_zero_disables_the_stop_out(self) -> None:
        account = make_account(stop_out_level=0.0)
        ts = open_long(account, "EURUSD", 5.0, MONDAY_MS, 1.10000)
        events = account.on_tick("EURUSD", ts + SECOND, 1.07000, 1.07020)
        assert events == []
        assert account.positions["EURUSD"].lots == 5.0
        assert account.equity == pytest.approx(10_000.0 - 15_100.0)  # below zero, still open

    def test_a_higher_level_stops_out_earlier(self) -> None:
        account = make_account(stop_out_level=1.0)
        ts = open_long(account, "EURUSD", 5.0, MONDAY_MS, 1.10000)
        # The same -5100 that stays open at 50 %: equity 4900 < 100 % of the margin 5450.
        [trade] = trades_of(account.on_tick("EURUSD", ts + SECOND, 1.09000, 1.09020))
        assert trade.exit_reason == "stop_out"

    @pytest.mark.parametrize("level", [-0.1, math.nan, math.inf])
    def test_a_negative_or_non_finite_level_is_refused(self, level: float) -> None:
        with pytest.raises(InvalidInput, match="expected stop_out_level >= 0"):
            make_account(stop_out_level=level)


class TestTwoPositions:
    def open_both(self, account: PaperAccount) -> int:
        """GBPUSD first (1 lot, -120 at 1.26900), then 4 lots of EURUSD at 1.10020."""
        ts = open_long(account, "GBPUSD", 1.0, MONDAY_MS, 1.27000)
        account.on_tick("GBPUSD", ts + SECOND, 1.26900, 1.26920)
        return open_long(account, "EURUSD", 4.0, ts + 2 * SECOND, 1.10000)

    def test_the_most_losing_closes_first_and_the_other_survives(self) -> None:
        account = make_account()
        ts = self.open_both(account)
        # EURUSD -7280, GBPUSD -120: equity 2600 < half of 4328 + 1269.
        events = account.on_tick("EURUSD", ts + SECOND, 1.08200, 1.08220)
        [trade] = trades_of(events)
        assert (trade.symbol, trade.exit_reason, trade.pnl) == ("EURUSD", "stop_out", -7280.0)
        assert list(account.positions) == ["GBPUSD"]
        # Equity 2600 against half of GBPUSD's 1269 of margin: restored, nothing more closes.
        assert account.equity == pytest.approx(2_600.0)
        assert not below_level(account)

    def test_still_below_after_the_first_close_the_next_closes_too(self) -> None:
        account = make_account()
        ts = self.open_both(account)
        # EURUSD -9480: equity 400, below half of GBPUSD's margin alone (1269 / 2).
        events = account.on_tick("EURUSD", ts + SECOND, 1.07650, 1.07670)
        closed = [(t.symbol, t.exit_reason, t.exit_price) for t in trades_of(events)]
        assert closed == [("EURUSD", "stop_out", 1.0765), ("GBPUSD", "stop_out", 1.269)]
        assert account.positions == {}
        assert account.balance == pytest.approx(10_000.0 - 9_480.0 - 120.0)

    def test_a_queued_order_stays_queued_and_is_checked_when_it_fills(self) -> None:
        account = make_account()
        ts = self.open_both(account)
        queued = account.submit(PaperOrder(symbol="GBPUSD", side=OrderSide.BUY, lots=2.0, ts=ts))
        assert isinstance(queued, PaperOrderAccepted)
        account.on_tick("EURUSD", ts + SECOND, 1.08200, 1.08220)  # EURUSD stopped out
        assert list(account.pending_orders) == [queued.order_id]
        # On GBPUSD's next tick, 2 more lots need 2538 of margin; the free margin is
        # 2600 - 1269: refused there, like any order the account cannot carry.
        events = account.on_tick("GBPUSD", ts + 2 * SECOND, 1.26900, 1.26920)
        assert account.pending_orders == {}
        assert [type(event).__name__ for event in events] == ["PaperOrderRejected"]
        assert list(account.positions) == ["GBPUSD"]


class TestSnapshot:
    def test_round_trip_keeps_the_level_and_the_behaviour(self) -> None:
        account = make_account(stop_out_level=1.0)
        ts = open_long(account, "EURUSD", 5.0, MONDAY_MS, 1.10000)
        restored = PaperAccount.restore(account.snapshot())
        assert restored.stop_out_level == 1.0
        tick = ("EURUSD", ts + SECOND, 1.09000, 1.09020)
        assert restored.on_tick(*tick) == account.on_tick(*tick)
        assert restored.trades[-1].exit_reason == "stop_out"
        assert restored.snapshot() == account.snapshot()

    def test_a_snapshot_from_before_the_stop_out_loads_with_the_default(self) -> None:
        account = make_account(stop_out_level=0.0)
        ts = open_long(account, "EURUSD", 5.0, MONDAY_MS, 1.10000)
        document = json.loads(account.snapshot())
        del document["config"]["stop_out_level"]
        restored = PaperAccount.restore(json.dumps(document))
        assert restored.stop_out_level == 0.5
        [trade] = trades_of(restored.on_tick("EURUSD", ts + SECOND, 1.08500, 1.08520))
        assert trade.exit_reason == FillReason.STOP_OUT


class TestDesk:
    async def test_the_desk_passes_its_level_and_shows_the_stop_out(self) -> None:
        desk = PaperDesk(starting_balance=10_000.0, leverage=100.0, stop_out_level=0.8)
        tenant = "tenant-stop-out"
        assert desk.book(tenant).account.stop_out_level == 0.8
        await desk.on_tick(tenant, "EURUSD", MONDAY_MS, 1.10000, 1.10020)
        signal = PaperSignal(
            symbol="EURUSD",
            ts=MONDAY_MS,
            action="buy",
            size=5.0,
            stop_loss=None,
            take_profit=None,
            model="m@1",
            reasons=("edge 0.4",),
        )
        assert desk.on_signal(tenant, signal) == []
        await desk.on_tick(tenant, "EURUSD", MONDAY_MS + SECOND, 1.10000, 1.10020)
        assert desk.position_lots(tenant, "EURUSD") == 5.0
        # -6100 open: equity 3900 < 80 % of the margin 5440 (at 50 % it would stay open).
        await desk.on_tick(tenant, "EURUSD", MONDAY_MS + 2 * SECOND, 1.08800, 1.08820)
        view = desk.account_view(tenant)
        assert view["positions"] == []
        assert [t["exit_reason"] for t in view["trades"]] == ["stop_out"]
        attribution = desk.attribution(tenant)
        assert attribution.total.closed_trades == 1
        assert attribution.total.realized == pytest.approx(-6_100.0)
        assert desk.intended_lots(tenant, "EURUSD") == 0.0
        assert OrderSide(view["trades"][0]["side"]) is OrderSide.BUY
