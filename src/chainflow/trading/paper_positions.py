"""Paper-trading value types and the pure arithmetic behind them.

Conventions shared with ``chainflow.trading.paper``:

- ``ts`` is epoch milliseconds (UTC); nothing here reads a clock.
- Prices and money are float64. Rounding happens at the boundary only: lots to the
  instrument's ``lot_step``, prices to its ``price_digits`` and money (realized P&L, swaps)
  to ``MONEY_DIGITS`` decimals of the account currency.
- ``quote_to_account`` converts one unit of the symbol's quote currency into the account
  currency (EURUSD in a USD account: 1.0; USDJPY in a USD account: 1 / USDJPY price).
- Netting: one position per symbol; an opposite fill closes up to the position's lots and
  any remainder opens a position on the other side at the fill price (a reversal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from chainflow.core.errors import InvalidInput

MONEY_DIGITS = 2
DAY_MS = 86_400_000
_LOT_EPSILON = 1e-9


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


@dataclass(frozen=True, slots=True)
class PaperInstrument:
    """Contract specification of one symbol (field names match the risk library's ``Instrument``).

    ``swap_long``/``swap_short`` are financing rates in points per lot per night (MT5
    convention: negative is a charge, positive a credit). ``swap_triple_weekday`` is the
    weekday (Monday = 0) whose rollover books three nights.
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
    swap_triple_weekday: int = 2

    @property
    def point(self) -> float:
        return 10.0**-self.price_digits


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
    """One execution in the paper account; ``order_id`` is None for stop-loss/take-profit."""

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


@dataclass(frozen=True, slots=True)
class PaperPosition:
    """The net position of one symbol; ``entry_price`` is the lot-weighted average."""

    symbol: str
    side: OrderSide
    lots: float
    entry_price: float
    entry_ts: int
    signal_id: str
    stop_loss: float | None = None
    take_profit: float | None = None
    swap: float = 0.0


@dataclass(frozen=True, slots=True)
class PaperTrade:
    """A closed (part of a) position: ``pnl`` excludes swaps, which are booked at rollover."""

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


def step_decimals(step: float) -> int:
    """Return how many decimals a multiple of ``step`` needs (0.01 → 2, 0.5 → 1, 1 → 0)."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def normalize_lots(instrument: PaperInstrument, lots: float) -> float:
    """Round ``lots`` to the nearest multiple of the lot step (for results of lot arithmetic)."""
    steps = round(lots / instrument.lot_step)
    return round(steps * instrument.lot_step, step_decimals(instrument.lot_step))


def floor_lots(instrument: PaperInstrument, lots: float) -> float:
    """Round requested ``lots`` down to the lot step, so an order never exceeds its request."""
    steps = math.floor(lots / instrument.lot_step + _LOT_EPSILON)
    return round(steps * instrument.lot_step, step_decimals(instrument.lot_step))


def round_price(instrument: PaperInstrument, price: float) -> float:
    return round(price, instrument.price_digits)


def round_money(amount: float) -> float:
    return round(amount, MONEY_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def price_pnl(
    instrument: PaperInstrument,
    side: OrderSide,
    lots: float,
    entry_price: float,
    exit_price: float,
    quote_to_account: float,
) -> float:
    """Return (exit − entry)·lots·contract_size·quote_to_account, sign-flipped for shorts."""
    direction = 1.0 if side is OrderSide.BUY else -1.0
    move = (exit_price - entry_price) * direction
    return move * lots * instrument.contract_size * quote_to_account


def swap_amount(
    instrument: PaperInstrument,
    side: OrderSide,
    lots: float,
    nights: int,
    quote_to_account: float,
) -> float:
    """Return the financing of ``nights`` for a position, rounded to the account currency."""
    points = instrument.swap_long if side is OrderSide.BUY else instrument.swap_short
    per_lot = points * instrument.point * instrument.contract_size * quote_to_account
    return round_money(per_lot * lots * nights)


def rollovers_between(previous_ts: int, ts: int, rollover_hour_utc: int) -> list[int]:
    """Return the rollover instants in ``(previous_ts, ts]`` (daily at the given UTC hour)."""
    offset = rollover_hour_utc * 3_600_000
    first = ((previous_ts - offset) // DAY_MS + 1) * DAY_MS + offset
    return list(range(first, ts + 1, DAY_MS))


def weekday_of(ts: int) -> int:
    """Return the UTC weekday of ``ts`` with Monday = 0 (1970-01-01 was a Thursday)."""
    return (ts // DAY_MS + 3) % 7


def nights_at_rollover(instrument: PaperInstrument, rollover_ts: int) -> int:
    """Return how many nights a rollover books: 0 on Saturday/Sunday, 3 on the triple day."""
    weekday = weekday_of(rollover_ts)
    if weekday >= 5:
        return 0
    return 3 if weekday == instrument.swap_triple_weekday else 1


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
        )
        return grown, []
    closed_lots = min(position.lots, fill.lots)
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
        pnl=round_money(pnl),
        signal_id=position.signal_id,
        exit_signal_id=fill.signal_id,
        exit_reason=fill.reason,
    )
    left_in_position = normalize_lots(instrument, position.lots - closed_lots)
    left_in_fill = normalize_lots(instrument, fill.lots - closed_lots)
    if left_in_position > 0:
        return replace(position, lots=left_in_position), [trade]
    if left_in_fill > 0:
        return _open(replace(fill, lots=left_in_fill)), [trade]
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
    )


def is_fillable(order: PaperOrder, price: float) -> bool:
    """Return whether a queued order fills at ``price`` (the ask for a buy, the bid for a sell).

    A market order always fills; a buy limit once the ask is at or below the limit, a sell
    limit once the bid is at or above it (so the fill is at the limit price or better).
    """
    if order.kind is OrderKind.MARKET or order.limit_price is None:
        return True
    if order.side is OrderSide.BUY:
        return price <= order.limit_price
    return price >= order.limit_price


def protective_exit(
    position: PaperPosition, bid: float, ask: float
) -> tuple[FillReason, float] | None:
    """Return (reason, exit price) when this quote touches the stop-loss or take-profit.

    A long exits at the bid, a short at the ask; the stop-loss wins if both are touched.
    """
    if position.side is OrderSide.BUY:
        if position.stop_loss is not None and bid <= position.stop_loss:
            return FillReason.STOP_LOSS, bid
        if position.take_profit is not None and bid >= position.take_profit:
            return FillReason.TAKE_PROFIT, bid
        return None
    if position.stop_loss is not None and ask >= position.stop_loss:
        return FillReason.STOP_LOSS, ask
    if position.take_profit is not None and ask <= position.take_profit:
        return FillReason.TAKE_PROFIT, ask
    return None


def check_quote(
    ts: int, bid: float, ask: float, last_ts: int | None, quote_to_account: float | None = None
) -> None:
    """Raise ``InvalidInput`` unless 0 < bid ≤ ask, ts does not go back and any rate is > 0."""
    if not (math.isfinite(bid) and math.isfinite(ask) and 0 < bid <= ask):
        raise InvalidInput(f"expected 0 < bid ≤ ask; received bid={bid!r} ask={ask!r}")
    if last_ts is not None and ts < last_ts:
        raise InvalidInput(f"expected ts ≥ last tick ts {last_ts}; received {ts}")
    if quote_to_account is not None and not (
        math.isfinite(quote_to_account) and quote_to_account > 0
    ):
        raise InvalidInput(f"expected quote_to_account > 0; received {quote_to_account!r}")


def normalize_order(
    instrument: PaperInstrument, order: PaperOrder
) -> tuple[PaperOrder, str | None]:
    """Round lots down to the lot step and prices to the digits; return a reason if invalid."""
    lots = floor_lots(instrument, order.lots)
    if not instrument.min_lot <= lots <= instrument.max_lot:
        return order, (
            f"expected lots in [{instrument.min_lot}, {instrument.max_lot}] "
            f"in steps of {instrument.lot_step}; received {order.lots}"
        )

    def rounded(price: float | None) -> float | None:
        return None if price is None else round_price(instrument, price)

    order = replace(
        order,
        lots=lots,
        limit_price=rounded(order.limit_price),
        stop_loss=rounded(order.stop_loss),
        take_profit=rounded(order.take_profit),
    )
    if order.kind is OrderKind.LIMIT and not (order.limit_price and order.limit_price > 0):
        return order, f"expected a limit_price > 0 for a limit order; received {order.limit_price}"
    if order.kind is OrderKind.MARKET and order.limit_price is not None:
        return order, f"expected no limit_price on a market order; received {order.limit_price}"
    levels = [order.stop_loss, order.limit_price, order.take_profit]
    present = [level for level in levels if level is not None]
    ascending = order.side is OrderSide.BUY
    if present != sorted(present, reverse=not ascending) or len(set(present)) != len(present):
        wanted = (
            "stop_loss < limit_price < take_profit"
            if ascending
            else ("stop_loss > limit_price > take_profit")
        )
        return order, f"expected {wanted} for a {order.side}; received {levels}"
    return order, None
