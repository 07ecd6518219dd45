"""Paper account: rollover swaps, snapshot round trip, MT5 reconciliation and invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainflow.trading.paper.account import PaperAccount
from chainflow.trading.paper.positions import (
    OrderSide,
    PaperInstrument,
    PaperOrder,
    PaperSwapCharge,
    PaperTrade,
    price_pnl,
)
from chainflow.trading.paper.reconcile import PaperReconciliation, PaperReconciliationUnmatched

MONDAY_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
EURUSD = PaperInstrument("EURUSD", swap_long=-5.0, swap_short=2.0)


def make_account() -> PaperAccount:
    return PaperAccount([EURUSD], starting_balance=10_000.0, leverage=100.0)


def open_position(account: PaperAccount, side: str, ts: int, lots: float = 1.0) -> None:
    account.submit(PaperOrder(symbol="EURUSD", side=side, lots=lots, ts=ts, signal_id="s1"))
    account.on_tick("EURUSD", ts + 1, 1.1, 1.1)


def swaps_of(events: list) -> list[PaperSwapCharge]:
    return [event for event in events if isinstance(event, PaperSwapCharge)]


class TestSwaps:
    def test_long_charged_once_when_tick_crosses_monday_rollover(self) -> None:
        account = make_account()
        open_position(account, "buy", MONDAY_MS + 20 * HOUR_MS)
        assert swaps_of(account.on_tick("EURUSD", MONDAY_MS + 21 * HOUR_MS - 1, 1.1, 1.1)) == []
        [charge] = swaps_of(account.on_tick("EURUSD", MONDAY_MS + 21 * HOUR_MS, 1.1, 1.1))
        assert (charge.amount, charge.nights, charge.ts) == (-5.0, 1, MONDAY_MS + 21 * HOUR_MS)
        assert account.balance == 9_995.0
        assert account.positions["EURUSD"].swap == -5.0

    def test_wednesday_rollover_books_three_nights(self) -> None:
        account = make_account()
        wednesday = MONDAY_MS + 2 * DAY_MS
        open_position(account, "buy", wednesday + 20 * HOUR_MS)
        [charge] = swaps_of(account.on_tick("EURUSD", wednesday + 22 * HOUR_MS, 1.1, 1.1))
        assert (charge.amount, charge.nights) == (-15.0, 3)

    def test_short_credited_with_positive_rate(self) -> None:
        account = make_account()
        open_position(account, "sell", MONDAY_MS)
        [charge] = swaps_of(account.on_tick("EURUSD", MONDAY_MS + 22 * HOUR_MS, 1.1, 1.1))
        assert charge.amount == 2.0

    def test_gap_over_weekend_books_friday_only_and_each_weekday(self) -> None:
        account = make_account()
        thursday = MONDAY_MS + 3 * DAY_MS
        open_position(account, "buy", thursday, lots=0.5)
        events = account.on_tick("EURUSD", thursday + 4 * DAY_MS + 22 * HOUR_MS, 1.1, 1.1)
        charges = swaps_of(events)  # Thu, Fri, (Sat, Sun skipped), Mon
        assert [charge.amount for charge in charges] == [-2.5, -2.5, -2.5]
        assert account.swaps == -7.5

    def test_triple_weekday_configurable(self) -> None:
        instrument = PaperInstrument("EURUSD", swap_long=-1.0, swap_triple_weekday=4)
        account = PaperAccount([instrument], starting_balance=10_000.0, leverage=100.0)
        friday = MONDAY_MS + 4 * DAY_MS
        open_position(account, "buy", friday)
        [charge] = swaps_of(account.on_tick("EURUSD", friday + 22 * HOUR_MS, 1.1, 1.1))
        assert charge.nights == 3 and charge.amount == -3.0

    def test_position_opened_after_rollover_not_charged(self) -> None:
        account = make_account()
        account.on_tick("EURUSD", MONDAY_MS + 20 * HOUR_MS, 1.1, 1.1)
        account.submit(PaperOrder(symbol="EURUSD", side="buy", lots=1, ts=MONDAY_MS + 20 * HOUR_MS))
        events = account.on_tick("EURUSD", MONDAY_MS + 22 * HOUR_MS, 1.1, 1.1)
        assert swaps_of(events) == [] and "EURUSD" in account.positions

    def test_midnight_rollover_books_the_wednesday_session_triple(self) -> None:
        # With the rollover at 00:00 UTC, Thursday 00:00 ends Wednesday's session (3 nights)
        # and Monday 00:00 ends Sunday's (none), as the backtest counts them.
        account = PaperAccount(
            [EURUSD], starting_balance=10_000.0, leverage=100.0, rollover_hour_utc=0
        )
        open_position(account, "buy", MONDAY_MS + 2 * DAY_MS)
        events = account.on_tick("EURUSD", MONDAY_MS + 7 * DAY_MS, 1.1, 1.1)
        assert [(c.ts, c.nights) for c in swaps_of(events)] == [
            (MONDAY_MS + 3 * DAY_MS, 3),
            (MONDAY_MS + 4 * DAY_MS, 1),
            (MONDAY_MS + 5 * DAY_MS, 1),
        ]


class TestCosts:
    def test_market_fills_pay_slippage_and_commission_per_lot(self) -> None:
        instrument = PaperInstrument("EURUSD", commission_per_lot=7.0, slippage=0.00002)
        account = PaperAccount([instrument], starting_balance=10_000.0, leverage=100.0)
        account.submit(PaperOrder(symbol="EURUSD", side="buy", lots=0.5, ts=MONDAY_MS))
        [fill] = account.on_tick("EURUSD", MONDAY_MS + 1, 1.1, 1.1001)
        assert (fill.price, fill.commission, account.balance) == (1.10012, 3.5, 9_996.5)
        account.close_position("EURUSD", MONDAY_MS + 2)
        events = account.on_tick("EURUSD", MONDAY_MS + 3, 1.1010, 1.1011)
        [trade] = [event for event in events if isinstance(event, PaperTrade)]
        # Sold at the bid less slippage 1.10098: +0.00086 × 50 000 = 43.00; 3.50 + 3.50 paid.
        assert (trade.exit_price, trade.pnl, trade.commission) == (1.10098, 43.0, 7.0)
        assert (account.balance, account.commissions) == (10_036.0, 7.0)
        assert PaperAccount.restore(account.snapshot()).summary() == account.summary()

    def test_stop_loss_exits_with_slippage_and_a_partial_close_splits_the_commission(
        self,
    ) -> None:
        instrument = PaperInstrument("EURUSD", commission_per_lot=6.0, slippage=0.00001)
        account = PaperAccount([instrument], starting_balance=10_000.0, leverage=100.0)
        order = PaperOrder(symbol="EURUSD", side="sell", lots=1.0, ts=MONDAY_MS, stop_loss=1.1020)
        account.submit(order)
        account.on_tick("EURUSD", MONDAY_MS + 1, 1.1, 1.1001)
        account.submit(PaperOrder(symbol="EURUSD", side="buy", lots=0.25, ts=MONDAY_MS + 1))
        account.on_tick("EURUSD", MONDAY_MS + 2, 1.1, 1.1001)
        assert account.trades[-1].commission == 3.0  # 1.50 of the entry's 6.00 + 1.50
        events = account.on_tick("EURUSD", MONDAY_MS + 3, 1.1019, 1.1021)
        [trade] = [event for event in events if isinstance(event, PaperTrade)]
        assert (trade.exit_reason, trade.exit_price, trade.lots) == ("stop_loss", 1.10211, 0.75)
        assert trade.commission == 9.0  # 4.50 of the entry + 4.50 of the stop's fill


class TestReconcile:
    def make_filled(self) -> PaperAccount:
        account = make_account()
        open_position(account, "buy", MONDAY_MS)  # paper fill at 1.1 on MONDAY_MS + 1
        account.submit(PaperOrder(symbol="EURUSD", side="buy", lots=1, ts=MONDAY_MS + 5_000))
        account.on_tick("EURUSD", MONDAY_MS + 10_000, 1.1002, 1.1003)
        return account

    def test_ticket_matching_signal_id_wins(self) -> None:
        account = self.make_filled()
        execution = {"symbol": "EURUSD", "side": "BUY", "volume": 1.0, "price": 1.10012}
        result = account.reconcile({**execution, "ticket": "s1", "ts": MONDAY_MS + 10_000})
        assert isinstance(result, PaperReconciliation)
        assert (result.paper_price, result.slippage, result.slippage_points) == (1.1, 0.00012, 12.0)
        assert account.reconciliations == [result]

    def test_nearest_unreconciled_fill_by_ts(self) -> None:
        account = self.make_filled()
        execution = {"symbol": "EURUSD", "side": "buy", "volume": 1, "price": 1.1002}
        first = account.reconcile({**execution, "ticket": 9, "ts": MONDAY_MS + 9_000})
        second = account.reconcile({**execution, "ticket": 10, "ts": MONDAY_MS + 9_000})
        assert isinstance(first, PaperReconciliation) and isinstance(second, PaperReconciliation)
        assert (first.paper_order_id, first.slippage) == (2, pytest.approx(-0.0001))
        assert second.paper_order_id == 1

    def test_nothing_matching_kept_as_unmatched_without_state_change(self) -> None:
        account = self.make_filled()
        before = account.summary()
        result = account.reconcile(
            {"symbol": "EURUSD", "side": "sell", "volume": 1, "price": 1.1, "ticket": 1, "ts": 0}
        )
        assert isinstance(result, PaperReconciliationUnmatched)
        assert account.unmatched_executions == [result] and account.summary() == before

    def test_outside_max_distance_unmatched(self) -> None:
        account = self.make_filled()
        execution = {"symbol": "EURUSD", "side": "buy", "volume": 1, "price": 1.1, "ticket": 7}
        result = account.reconcile({**execution, "ts": MONDAY_MS + DAY_MS}, max_distance_ms=1_000)
        assert isinstance(result, PaperReconciliationUnmatched)


class TestSnapshot:
    def test_restored_account_continues_identically(self) -> None:
        ticks = [(MONDAY_MS + step * 7 * HOUR_MS, 1.1 + 0.0001 * (step % 7)) for step in range(40)]
        original = make_account()
        for index, (ts, price) in enumerate(ticks):
            if index == 20:
                restored = PaperAccount.restore(original.snapshot())
                assert restored.snapshot() == original.snapshot()
            accounts = [original] if index < 20 else [original, restored]
            for account in accounts:
                if index % 5 == 0:
                    side = "buy" if index % 10 == 0 else "sell"
                    account.submit(
                        PaperOrder(symbol="EURUSD", side=side, lots=0.3, ts=ts - 1, stop_loss=None)
                    )
                account.on_tick("EURUSD", ts, price, price + 0.0002)
        assert original.swap_charges and original.trades
        assert restored.snapshot() == original.snapshot()
        assert restored.summary() == original.summary()


@st.composite
def sessions(draw: st.DrawFn) -> list[tuple[int, int, str | None, float]]:
    steps = draw(st.integers(min_value=1, max_value=40))
    session = []
    for _ in range(steps):
        gap = draw(st.sampled_from([1_000, 60_000, 5 * HOUR_MS, DAY_MS]))
        move = draw(st.integers(min_value=-30, max_value=30))
        side = draw(st.sampled_from([None, None, "buy", "sell"]))
        lots = draw(st.floats(min_value=0.0, max_value=2.0))
        session.append((gap, move, side, lots))
    return session


class TestInvariants:
    @settings(max_examples=60, deadline=None)
    @given(session=sessions())
    def test_equity_balance_and_lot_invariants(self, session: list) -> None:
        account = PaperAccount([EURUSD], starting_balance=100_000.0, leverage=100.0)
        ts, price = MONDAY_MS, 1.1
        for gap, move, side, lots in session:
            ts += gap
            price = round(price + move * 0.00001, 5)
            account.on_tick("EURUSD", ts, price, round(price + 0.00015, 5))
            unrealized = sum(
                price_pnl(
                    EURUSD,
                    p.side,
                    p.lots,
                    p.entry_price,
                    price if p.side is OrderSide.BUY else round(price + 0.00015, 5),
                    1.0,
                )
                for p in account.positions.values()
            )
            assert account.equity == pytest.approx(account.balance + unrealized, abs=1e-9)
            for position in account.positions.values():
                assert position.lots == round(round(position.lots / 0.01) * 0.01, 2)
            if side is not None:
                account.submit(PaperOrder(symbol="EURUSD", side=side, lots=lots, ts=ts))
        account.on_tick("EURUSD", ts + 1, price, round(price + 0.00015, 5))  # fill the queue
        account.close_position("EURUSD", ts + 1)
        account.on_tick("EURUSD", ts + 2, price, round(price + 0.00015, 5))
        assert account.positions == {}
        total = sum(trade.pnl for trade in account.trades) + account.swaps
        assert total == pytest.approx(account.balance - account.starting_balance, abs=1e-6)
        lot_counts = [fill.lots for fill in account.fills] + [t.lots for t in account.trades]
        for lots in lot_counts:
            assert math.isclose(lots / EURUSD.lot_step, round(lots / EURUSD.lot_step), abs_tol=1e-9)
            assert lots == round(lots, 2)
