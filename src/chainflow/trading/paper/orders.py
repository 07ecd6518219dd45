"""Paper orders before they fill: quote checks, lot and price normalization, fillability.

Conventions (units, rounding, sides) are those of ``chainflow.trading.paper.positions``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from chainflow.core.errors import InvalidInput
from chainflow.trading.account import functions as account
from chainflow.trading.paper.positions import (
    OrderKind,
    OrderSide,
    PaperInstrument,
    PaperOrder,
    round_price,
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
    lots = account.floor_lots(order.lots, instrument.lot_step)
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


def reference_price(order: PaperOrder, quote: tuple[float, float] | None) -> float | None:
    """Return the price an order's margin is checked at when submitted: its limit, else the
    quote's ask for a buy and bid for a sell (None without a quote)."""
    if order.kind is OrderKind.LIMIT:
        return order.limit_price
    if quote is None:
        return None
    return quote[1] if order.side is OrderSide.BUY else quote[0]


def margin_shortfall(increase: float, free: float, currency: str) -> str | None:
    """Return why an order whose margin grows by ``increase`` is refused, else None."""
    if increase > 0 and increase > free:
        return (
            f"expected required margin ≤ free margin {free:.2f} {currency}; "
            f"received {increase:.2f} {currency}"
        )
    return None
