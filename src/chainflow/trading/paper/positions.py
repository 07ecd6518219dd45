"""Paper-trading value types and the pure arithmetic behind them.

Conventions shared with ``chainflow.trading.paper.account``:

- ``ts`` is epoch milliseconds (UTC); nothing here reads a clock.
- Prices and money are float64. Rounding happens at the boundary only: lots to the
  instrument's ``lot_step``, prices to its ``price_digits`` and money (realized P&L, swaps,
  commissions) to cents of the account currency.
- The arithmetic (fill prices, stops, commissions, swaps, margin, P&L, rounding) is
  ``chainflow.trading.account.functions``, the rules the backtest's kernels use too; the
  functions here adapt a ``PaperInstrument`` and an ``OrderSide`` to them.
- ``quote_to_account`` converts one unit of the symbol's quote currency into the account
  currency (EURUSD in a USD account: 1.0; USDJPY in a USD account: 1 / USDJPY price).
- Netting: one position per symbol; an opposite fill closes up to the position's lots and
  any remainder opens a position on the other side at the fill price (a reversal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from chainflow.trading.account import functions as account


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class FillReason(StrEnum):
    ORDER = "order"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    STOP_OUT = "stop_out"


@dataclass(frozen=True, slots=True)
class PaperInstrument:
    """Contract specification of one symbol (field names match the risk library's ``Instrument``).

    ``swap_long``/``swap_short`` are financing rates in points per lot per night (MT5
    convention: negative is a charge, positive a credit). ``swap_triple_weekday`` is the
    weekday (Monday = 0) whose rollover books three nights. ``commission_per_lot`` is money
    per lot per fill, ``commission_rate`` a fraction of the traded value; ``slippage`` is
    the price distance every market fill and stop-loss moves against the trader.
    """

    symbol: str
    contract_size: float = 100_000.0
    lot_step: float = 0.01
    min_lot: float = 0.01
    max_lot: float = 100.0
    price_digits: int = 5
    pip_size: float = 0.0001
    quote_to_account: float = 1.0
    swap_long: float = 0.0
    swap_short: float = 0.0
    swap_triple_weekday: int = account.TRIPLE_SWAP_WEEKDAY
    commission_per_lot: float = 0.0
    commission_rate: float = 0.0
    slippage: float = 0.0

    @property
    def point(self) -> float:
        return 10.0**-self.price_digits

    def units(self, side: OrderSide, lots: float) -> float:
        """Return ``lots`` as signed units (lots × contract size, negative for a sell)."""
        units = lots * self.contract_size
        return units if side is OrderSide.BUY else -units


@dataclass(frozen=True, slots=True, kw_only=True)
class PaperOrder:
    """An order as the strategy submits it; ``ts`` is when the signal was made."""

    symbol: str
    side: OrderSide
    lots: float
    kind: OrderKind = OrderKind.MARKET
    limit_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    signal_id: str = ""
    ts: int


@dataclass(frozen=True, slots=True)
class PaperOrderAccepted:
    order_id: int
    order: PaperOrder


@dataclass(frozen=True, slots=True)
class PaperOrderRejected:
    """A rejection as a value: the order (if any id was given, ``order_id``) and why."""

    order: PaperOrder
    reason: str
    ts: int
    order_id: int | None = None


@dataclass(frozen=True, slots=True)
class PaperFill:
    """One execution in the paper account; ``order_id`` is None for the account's own closes
    (stop-loss, take-profit, stop-out)."""

    order_id: int | None
    symbol: str
    side: OrderSide
    lots: float
    price: float
    ts: int
    signal_id: str
    reason: FillReason = FillReason.ORDER
    stop_loss: float | None = None
    take_profit: float | None = None
    commission: float = 0.0


@dataclass(frozen=True, slots=True)
class PaperPosition:
    """The net position of one symbol; ``entry_price`` is the lot-weighted average;
    ``commission`` is what its entry fills cost (for the trades that close it)."""

    symbol: str
    side: OrderSide
    lots: float
    entry_price: float
    entry_ts: int
    signal_id: str
    stop_loss: float | None = None
    take_profit: float | None = None
    swap: float = 0.0
    commission: float = 0.0


@dataclass(frozen=True, slots=True)
class PaperTrade:
    """A closed (part of a) position: ``pnl`` is the price P&L; swaps (booked at rollover) and
    commissions (booked at each fill; ``commission`` is this trade's share of its entry and
    exit fills') are not in it."""

    symbol: str
    side: OrderSide
    lots: float
    entry_ts: int
    entry_price: float
    exit_ts: int
    exit_price: float
    pnl: float
    signal_id: str
    exit_signal_id: str
    exit_reason: FillReason
    commission: float = 0.0


@dataclass(frozen=True, slots=True)
class PaperSwapCharge:
    """A financing amount booked to the balance at one rollover (negative is a charge)."""

    symbol: str
    side: OrderSide
    lots: float
    ts: int
    nights: int
    amount: float


PaperEvent = PaperFill | PaperTrade | PaperOrderRejected | PaperSwapCharge


def normalize_lots(instrument: PaperInstrument, lots: float) -> float:
    """Round ``lots`` to the nearest multiple of the lot step (for results of lot arithmetic)."""
    return account.round_lots(lots, instrument.lot_step)


def round_price(instrument: PaperInstrument, price: float) -> float:
    return account.round_price(price, instrument.price_digits)


def price_pnl(
    instrument: PaperInstrument,
    side: OrderSide,
    lots: float,
    entry_price: float,
    exit_price: float,
    quote_to_account: float,
) -> float:
    """Return (exit − entry)·lots·contract_size·quote_to_account, sign-flipped for shorts."""
    units = instrument.units(side, lots)
    return account.price_pnl(units, entry_price, exit_price, quote_to_account)


def fill_commission(
    instrument: PaperInstrument, lots: float, price: float, quote_to_account: float
) -> float:
    """Return the commission of a fill of ``lots`` at ``price``, rounded to cents."""
    amount = account.commission(
        lots * instrument.contract_size,
        price,
        instrument.commission_rate,
        instrument.commission_per_lot,
        instrument.contract_size,
        quote_to_account,
    )
    return account.round_money(amount)


def swap_amount(
    instrument: PaperInstrument,
    side: OrderSide,
    lots: float,
    nights: int,
    quote_to_account: float,
) -> float:
    """Return the financing of ``nights`` for a position, rounded to the account currency."""
    per_point = instrument.point * instrument.contract_size * quote_to_account  # per lot
    rate_long, rate_short = instrument.swap_long * per_point, instrument.swap_short * per_point
    signed_lots = lots if side is OrderSide.BUY else -lots
    return account.round_money(account.swap_amount(signed_lots, rate_long, rate_short, nights))


def rollovers_between(previous_ts: int, ts: int, rollover_hour_utc: int) -> list[int]:
    """Return the rollover instants in ``(previous_ts, ts]`` (daily at the given UTC hour)."""
    first = account.first_rollover_after(previous_ts, rollover_hour_utc)
    return list(range(first, ts + 1, account.DAY_MS))


def nights_at_rollover(instrument: PaperInstrument, rollover_ts: int) -> int:
    """Return how many nights a rollover books: 0 on Saturday/Sunday, 3 on the triple day."""
    return account.rollover_nights(rollover_ts, instrument.swap_triple_weekday)


def net_fill(
    instrument: PaperInstrument,
    position: PaperPosition | None,
    fill: PaperFill,
    quote_to_account: float,
) -> tuple[PaperPosition | None, list[PaperTrade]]:
    """Apply one fill to the symbol's net position; return the new position and closed trades.

    Same side: lots add up and the entry becomes the lot-weighted average; the fill's
    stop-loss/take-profit replace the position's when given. Opposite side: up to the
    position's lots close at the fill price (one ``PaperTrade``); a remainder of the fill
    opens a reversed position at the fill price with the fill's stop-loss/take-profit.
    Commissions follow the lots: a trade carries its share of the entry and exit fills'.
    """
    if position is None:
        return _open(fill), []
    if position.side is fill.side:
        total = normalize_lots(instrument, position.lots + fill.lots)
        average = (position.entry_price * position.lots + fill.price * fill.lots) / total
        grown = replace(
            position,
            lots=total,
            entry_price=average,
            stop_loss=fill.stop_loss if fill.stop_loss is not None else position.stop_loss,
            take_profit=fill.take_profit if fill.take_profit is not None else position.take_profit,
            commission=account.round_money(position.commission + fill.commission),
        )
        return grown, []
    closed_lots = min(position.lots, fill.lots)
    entry_share = account.round_money(position.commission * closed_lots / position.lots)
    exit_share = account.round_money(fill.commission * closed_lots / fill.lots)
    pnl = price_pnl(
        instrument, position.side, closed_lots, position.entry_price, fill.price, quote_to_account
    )
    trade = PaperTrade(
        symbol=position.symbol,
        side=position.side,
        lots=closed_lots,
        entry_ts=position.entry_ts,
        entry_price=position.entry_price,
        exit_ts=fill.ts,
        exit_price=fill.price,
        pnl=account.round_money(pnl),
        signal_id=position.signal_id,
        exit_signal_id=fill.signal_id,
        exit_reason=fill.reason,
        commission=account.round_money(entry_share + exit_share),
    )
    left_in_position = normalize_lots(instrument, position.lots - closed_lots)
    left_in_fill = normalize_lots(instrument, fill.lots - closed_lots)
    if left_in_position > 0:
        commission = account.round_money(position.commission - entry_share)
        return replace(position, lots=left_in_position, commission=commission), [trade]
    if left_in_fill > 0:
        commission = account.round_money(fill.commission - exit_share)
        return _open(replace(fill, lots=left_in_fill, commission=commission)), [trade]
    return None, [trade]


def _open(fill: PaperFill) -> PaperPosition:
    return PaperPosition(
        symbol=fill.symbol,
        side=fill.side,
        lots=fill.lots,
        entry_price=fill.price,
        entry_ts=fill.ts,
        signal_id=fill.signal_id,
        stop_loss=fill.stop_loss,
        take_profit=fill.take_profit,
        commission=fill.commission,
    )


def protective_exit(
    instrument: PaperInstrument, position: PaperPosition, bid: float, ask: float
) -> tuple[FillReason, float] | None:
    """Return (reason, exit price) when this quote touches the stop-loss or take-profit.

    A long exits at the bid, a short at the ask, a stop-loss with the instrument's
    slippage; the stop-loss wins if both are touched (``account.protective_exit`` on a
    bar whose open, high and low are the tick's bid).
    """
    side = account.BUY if position.side is OrderSide.BUY else account.SELL
    stop_loss = math.nan if position.stop_loss is None else position.stop_loss
    take_profit = math.nan if position.take_profit is None else position.take_profit
    reason, price = account.protective_exit(
        side, stop_loss, take_profit, bid, bid, bid, ask - bid, instrument.slippage
    )
    if reason == account.NO_EXIT:
        return None
    exit_reason = FillReason.STOP_LOSS if reason == account.STOP_LOSS else FillReason.TAKE_PROFIT
    return exit_reason, round_price(instrument, price)


def stop_out_price(
    instrument: PaperInstrument, position: PaperPosition, bid: float, ask: float
) -> float:
    """Return the price a stop-out closes ``position`` at: a market close at the quote.

    A long sells at the bid, a short buys at the ask, moved by the instrument's slippage
    like every market fill (the backtest's stop-out fills at its worst price with slippage).
    """
    side = account.SELL if position.side is OrderSide.BUY else account.BUY
    return round_price(instrument, account.fill_price(side, bid, ask - bid, instrument.slippage))
