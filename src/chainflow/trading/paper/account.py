"""Paper-trading account: queued orders filled on later ticks, netting, swaps and margin.

No lookahead: an order made from tick t fills on the first tick of its symbol whose ``ts``
is strictly greater than the order's ``ts`` (a market order at that tick's ask for a buy,
bid for a sell, moved by the instrument's slippage; a limit order at the quote); each fill
pays the instrument's commission. Each tick is processed in this order: rollover swaps for
every open position, then the stop-loss/take-profit of the tick's symbol, then the queued
orders of the tick's symbol (by order id), then the stop-out, then the equity mark.
Conventions (units, rounding, netting) are in ``chainflow.trading.paper.positions``; the
arithmetic is ``chainflow.trading.account.functions``, shared with the backtest.

Stop-out (as MT5): while equity is below ``stop_out_level`` × the margin used
(``account.is_stopped_out``, the backtest's rule), the position with the largest loss is
closed at its last known quote (a long at the bid, a short at the ask, with the
instrument's slippage and commission, reason ``stop_out``), then the level is checked
again. A level of 0 disables it. Queued orders stay queued: each is checked against the
free margin when it fills, so an account that cannot carry it gets a rejection then.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from chainflow.core.errors import InvalidInput
from chainflow.trading.account import functions as account
from chainflow.trading.paper.orders import (
    check_quote,
    is_fillable,
    margin_shortfall,
    normalize_order,
    reference_price,
)
from chainflow.trading.paper.positions import (
    FillReason,
    OrderKind,
    OrderSide,
    PaperEvent,
    PaperFill,
    PaperInstrument,
    PaperOrder,
    PaperOrderAccepted,
    PaperOrderRejected,
    PaperPosition,
    PaperSwapCharge,
    PaperTrade,
    fill_commission,
    net_fill,
    nights_at_rollover,
    price_pnl,
    protective_exit,
    rollovers_between,
    round_price,
    stop_out_price,
    swap_amount,
)
from chainflow.trading.paper.reconcile import (
    PaperReconciliation,
    PaperReconciliationUnmatched,
    match_execution,
)
from chainflow.trading.paper.snapshot import (
    PaperAccountSummary,
    dump_account_state,
    load_account_state,
    summarize_account,
)

__all__ = ["PaperAccount", "PaperAccountSummary"]


class PaperAccount:
    """A simulated netting account fed by ticks; rejections are returned, never raised."""

    def __init__(
        self,
        instruments: list[PaperInstrument] | tuple[PaperInstrument, ...],
        *,
        starting_balance: float,
        leverage: float,
        stop_out_level: float = 0.5,
        account_currency: str = "USD",
        rollover_hour_utc: int = 21,
        equity_sample_ms: int = 60_000,
        equity_curve_limit: int = 10_080,
    ) -> None:
        if not (starting_balance > 0 and leverage > 0):
            raise InvalidInput(
                "expected starting_balance > 0 and leverage > 0; "
                f"received {starting_balance!r} and {leverage!r}"
            )
        if not (math.isfinite(stop_out_level) and stop_out_level >= 0):
            raise InvalidInput(f"expected stop_out_level >= 0; received {stop_out_level!r}")
        if not 0 <= rollover_hour_utc <= 23:
            raise InvalidInput(f"expected rollover_hour_utc in 0..23; received {rollover_hour_utc}")
        self.instruments = {instrument.symbol: instrument for instrument in instruments}
        self.starting_balance = account.round_money(starting_balance)
        self.leverage = float(leverage)
        self.stop_out_level = float(stop_out_level)
        self.account_currency = account_currency
        self.rollover_hour_utc = rollover_hour_utc
        self.equity_sample_ms = equity_sample_ms
        self.equity_curve_limit = equity_curve_limit
        self.balance = self.starting_balance
        self.realized_pnl = 0.0
        self.swaps = 0.0
        self.commissions = 0.0
        self.next_order_id = 1
        self.last_ts: int | None = None
        self.pending_orders: dict[int, PaperOrder] = {}
        self.positions: dict[str, PaperPosition] = {}
        self.quotes: dict[str, tuple[float, float]] = {}
        self.quote_rates: dict[str, float] = {}
        self.trades: list[PaperTrade] = []
        self.fills: list[PaperFill] = []
        self.swap_charges: list[PaperSwapCharge] = []
        self.rejections: list[PaperOrderRejected] = []
        self.reconciliations: list[PaperReconciliation] = []
        self.unmatched_executions: list[PaperReconciliationUnmatched] = []
        self.reconciled_fill_indexes: set[int] = set()
        self.equity_curve: deque[tuple[int, float]] = deque(maxlen=equity_curve_limit)
        self.peak_equity = self.starting_balance
        self.max_drawdown = 0.0
        self.max_drawdown_fraction = 0.0

    # Orders ------------------------------------------------------------------------------
    def submit(self, order: PaperOrder) -> PaperOrderAccepted | PaperOrderRejected:
        """Validate and queue ``order``; it fills on a later tick (never at ``order.ts``)."""
        order = replace(order, side=OrderSide(order.side), kind=OrderKind(order.kind))
        instrument = self.instruments.get(order.symbol)
        if instrument is None:
            return self._reject(order, f"expected a known symbol; received {order.symbol!r}")
        order, reason = normalize_order(instrument, order)
        if reason is None:
            reference = reference_price(order, self.quotes.get(order.symbol))
            if reference is not None:
                reason = self._margin_problem(instrument, order.side, order.lots, reference)
        if reason is not None:
            return self._reject(order, reason)
        order_id = self.next_order_id
        self.next_order_id += 1
        self.pending_orders[order_id] = order
        return PaperOrderAccepted(order_id=order_id, order=order)

    def cancel(self, order_id: int) -> bool:
        """Remove a queued order; return whether it was still queued."""
        return self.pending_orders.pop(order_id, None) is not None

    def close_position(
        self, symbol: str, ts: int, signal_id: str = ""
    ) -> PaperOrderAccepted | PaperOrderRejected | None:
        """Queue a market order that flattens ``symbol``; None when there is no position."""
        position = self.positions.get(symbol)
        if position is None:
            return None
        return self.submit(
            PaperOrder(
                symbol=symbol,
                side=position.side.opposite,
                lots=position.lots,
                signal_id=signal_id,
                ts=ts,
            )
        )

    # Ticks -------------------------------------------------------------------------------
    def on_tick(
        self,
        symbol: str,
        ts: int,
        bid: float,
        ask: float,
        quote_to_account: float | None = None,
    ) -> list[PaperEvent]:
        """Process one quote; return the swaps, fills, trades and rejections it caused.

        ``quote_to_account`` (optional) updates the symbol's conversion rate from now on,
        e.g. 1 / price for USDJPY in a USD account.
        """
        check_quote(ts, bid, ask, self.last_ts, quote_to_account)
        events: list[PaperEvent] = []
        if self.last_ts is not None:
            for rollover_ts in rollovers_between(self.last_ts, ts, self.rollover_hour_utc):
                events.extend(self._book_swaps(rollover_ts))
        self.last_ts = ts
        instrument = self.instruments.get(symbol)
        if instrument is not None:
            bid, ask = round_price(instrument, bid), round_price(instrument, ask)
            self.quotes[symbol] = (bid, ask)
            if quote_to_account is not None:
                self.quote_rates[symbol] = quote_to_account
            events.extend(self._protect(instrument, ts, bid, ask))
            events.extend(self._fill_queued(instrument, ts, bid, ask))
        events.extend(self._stop_out(ts))
        self._mark(ts)
        return events

    # Figures -----------------------------------------------------------------------------
    @property
    def unrealized_pnl(self) -> float:
        """Open P&L: longs marked at the bid, shorts at the ask, in the account currency."""
        return sum(self._open_pnl(mark) for mark in self._marks())

    @property
    def equity(self) -> float:
        return self.balance + self.unrealized_pnl

    @property
    def margin_used(self) -> float:
        """Sum of notional / leverage over open positions, at their marks."""
        return sum(
            self._margin(instrument, position.lots, mark)
            for instrument, position, mark, _ in self._marks()
        )

    @property
    def free_margin(self) -> float:
        return self.equity - self.margin_used

    def summary(self) -> PaperAccountSummary:
        """Return balance, equity, P&L, margin, counts and the max drawdown so far."""
        return summarize_account(self)

    # Reconciliation ----------------------------------------------------------------------
    def reconcile(
        self, execution: Mapping[str, Any], max_distance_ms: int | None = None
    ) -> PaperReconciliation | PaperReconciliationUnmatched:
        """Record a real MT5 fill against the paper fill it matches (see ``match_execution``).

        A matched execution stores slippage = real price − paper price; an unmatched one is
        kept in ``unmatched_executions``. Neither changes balances or positions.
        """
        result = match_execution(
            self.fills, self.reconciled_fill_indexes, self.instruments, execution, max_distance_ms
        )
        if isinstance(result, PaperReconciliation):
            self.reconciliations.append(result)
        else:
            self.unmatched_executions.append(result)
        return result

    # Persistence -------------------------------------------------------------------------
    def snapshot(self) -> str:
        """Return the whole account (configuration and state) as a JSON document."""
        return json.dumps(dump_account_state(self), separators=(",", ":"))

    @classmethod
    def restore(cls, document: str) -> PaperAccount:
        """Rebuild an account from ``snapshot()``; it continues exactly where it stopped."""
        data = json.loads(document)
        config = dict(data["config"])
        instruments = [PaperInstrument(**instrument) for instrument in config.pop("instruments")]
        account = cls(instruments, **config)
        load_account_state(account, data)
        return account

    # Internals ---------------------------------------------------------------------------
    def _marks(self) -> Iterator[tuple[PaperInstrument, PaperPosition, float, float]]:
        for symbol, position in self.positions.items():
            bid, ask = self.quotes[symbol]
            mark = bid if position.side is OrderSide.BUY else ask
            yield self.instruments[symbol], position, mark, self._rate(symbol)

    @staticmethod
    def _open_pnl(mark: tuple[PaperInstrument, PaperPosition, float, float]) -> float:
        instrument, position, price, rate = mark
        return price_pnl(
            instrument, position.side, position.lots, position.entry_price, price, rate
        )

    def _rate(self, symbol: str) -> float:
        return self.quote_rates.get(symbol, self.instruments[symbol].quote_to_account)

    def _margin(self, instrument: PaperInstrument, lots: float, price: float) -> float:
        units = lots * instrument.contract_size
        rate = self._rate(instrument.symbol)
        return account.margin_required(units, price, rate, self.leverage)

    def _margin_problem(
        self, instrument: PaperInstrument, side: OrderSide, lots: float, price: float
    ) -> str | None:
        position = self.positions.get(instrument.symbol)
        held = 0.0 if position is None else position.lots
        same_side = position is None or position.side is side
        after = held + lots if same_side else abs(held - lots)
        increase = self._margin(instrument, after, price) - self._margin(instrument, held, price)
        return margin_shortfall(increase, self.free_margin, self.account_currency)

    def _reject(
        self, order: PaperOrder, reason: str, ts: int | None = None, order_id: int | None = None
    ) -> PaperOrderRejected:
        rejection = PaperOrderRejected(
            order=order, reason=reason, ts=order.ts if ts is None else ts, order_id=order_id
        )
        self.rejections.append(rejection)
        return rejection

    def _book_swaps(self, rollover_ts: int) -> list[PaperEvent]:
        events: list[PaperEvent] = []
        for symbol, position in self.positions.items():
            instrument = self.instruments[symbol]
            nights = nights_at_rollover(instrument, rollover_ts)
            if nights == 0:
                continue
            amount = swap_amount(
                instrument, position.side, position.lots, nights, self._rate(symbol)
            )
            if amount == 0.0:
                continue
            self.balance += amount
            self.swaps += amount
            self.positions[symbol] = replace(position, swap=position.swap + amount)
            charge = PaperSwapCharge(
                symbol=symbol,
                side=position.side,
                lots=position.lots,
                ts=rollover_ts,
                nights=nights,
                amount=amount,
            )
            self.swap_charges.append(charge)
            events.append(charge)
        return events

    def _protect(
        self, instrument: PaperInstrument, ts: int, bid: float, ask: float
    ) -> list[PaperEvent]:
        position = self.positions.get(instrument.symbol)
        if position is None:
            return []
        exit_ = protective_exit(instrument, position, bid, ask)
        if exit_ is None:
            return []
        reason, price = exit_
        return self._close_out(instrument, position, ts, price, reason)

    def _stop_out(self, ts: int) -> list[PaperEvent]:
        """Close the most losing position while the account is below its stop-out level."""
        events: list[PaperEvent] = []
        if self.stop_out_level == 0.0:
            return events
        while self.positions and account.is_stopped_out(
            self.balance, self.unrealized_pnl, self.margin_used, self.stop_out_level
        ):
            instrument, position, _, _ = min(self._marks(), key=self._open_pnl)
            bid, ask = self.quotes[instrument.symbol]
            price = stop_out_price(instrument, position, bid, ask)
            events.extend(self._close_out(instrument, position, ts, price, FillReason.STOP_OUT))
        return events

    def _close_out(
        self,
        instrument: PaperInstrument,
        position: PaperPosition,
        ts: int,
        price: float,
        reason: FillReason,
    ) -> list[PaperEvent]:
        """Close the whole ``position`` at ``price`` (the account's own fill, no order)."""
        rate = self._rate(instrument.symbol)
        fill = PaperFill(
            order_id=None,
            symbol=instrument.symbol,
            side=position.side.opposite,
            lots=position.lots,
            price=price,
            ts=ts,
            signal_id=position.signal_id,
            reason=reason,
            commission=fill_commission(instrument, position.lots, price, rate),
        )
        return self._apply_fill(instrument, fill)

    def _fill_queued(
        self, instrument: PaperInstrument, ts: int, bid: float, ask: float
    ) -> list[PaperEvent]:
        events: list[PaperEvent] = []
        for order_id, order in list(self.pending_orders.items()):
            if order.symbol != instrument.symbol or ts <= order.ts:
                continue
            quote = ask if order.side is OrderSide.BUY else bid
            if not is_fillable(order, quote):
                continue
            side = account.BUY if order.side is OrderSide.BUY else account.SELL
            slippage = instrument.slippage if order.kind is OrderKind.MARKET else 0.0
            price = round_price(instrument, account.fill_price(side, bid, ask - bid, slippage))
            del self.pending_orders[order_id]
            reason = self._margin_problem(instrument, order.side, order.lots, price)
            if reason is not None:
                events.append(self._reject(order, reason, ts=ts, order_id=order_id))
                continue
            fill = PaperFill(
                order_id=order_id,
                symbol=order.symbol,
                side=order.side,
                lots=order.lots,
                price=price,
                ts=ts,
                signal_id=order.signal_id,
                reason=FillReason.ORDER,
                stop_loss=order.stop_loss,
                take_profit=order.take_profit,
                commission=fill_commission(instrument, order.lots, price, self._rate(order.symbol)),
            )
            events.extend(self._apply_fill(instrument, fill))
        return events

    def _apply_fill(self, instrument: PaperInstrument, fill: PaperFill) -> list[PaperEvent]:
        symbol = instrument.symbol
        position, trades = net_fill(
            instrument, self.positions.get(symbol), fill, self._rate(symbol)
        )
        if position is None:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = position
        self.fills.append(fill)
        self.balance -= fill.commission
        self.commissions += fill.commission
        for trade in trades:
            self.balance += trade.pnl
            self.realized_pnl += trade.pnl
            self.trades.append(trade)
        return [fill, *trades]

    def _mark(self, ts: int) -> None:
        equity = self.equity
        bucket = ts - ts % self.equity_sample_ms
        if self.equity_curve and self.equity_curve[-1][0] == bucket:
            self.equity_curve[-1] = (bucket, equity)
        else:
            self.equity_curve.append((bucket, equity))
        self.peak_equity = max(self.peak_equity, equity)
        drawdown = self.peak_equity - equity
        if drawdown > self.max_drawdown:
            self.max_drawdown = drawdown
            self.max_drawdown_fraction = drawdown / self.peak_equity
