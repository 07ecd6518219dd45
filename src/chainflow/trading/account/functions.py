"""The simulated account's rules, one scalar function each, for numba kernels and plain Python.

Every function in the first part takes plain floats and ints and is registered with
``numba.extending.register_jitable``: called from Python it is the plain function (the
paper account), called from a numba-compiled kernel it is compiled into the kernel (the
backtest's ``fills``). Without numba the decorator does nothing.

Conventions:

- ``side`` is ``BUY`` (1) or ``SELL`` (-1); ``units`` are signed (positive long) and are
  lots times the contract size.
- Prices are bid prices plus a ``spread`` (ask − bid) and a ``slippage`` (a price
  distance that moves every market fill against the trader). A buy fills at the ask, a
  sell at the bid; a long is marked and closed at the bid, a short at the ask.
- Money is in the account currency: amounts in the quote currency are multiplied by
  ``quote_to_account`` (1.0 when the quote currency is the account currency).
- Rounding happens at the boundary only, in the second part of the module (plain Python:
  numba's ``round`` differs from CPython's correctly rounded one on ties): lots to the
  lot step, prices to the symbol's digits, money to cents.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

try:  # numba is optional: the same functions run as plain Python without it
    from numba.extending import register_jitable

    HAS_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps a fallback
    HAS_NUMBA = False


def jitable(function: F) -> F:
    """Return ``function``, also callable from numba-compiled code when numba is installed."""
    if not HAS_NUMBA:
        return function
    return register_jitable(function)


BUY = 1
SELL = -1
# Exit reasons of ``protective_exit`` (the backtest's trade-log codes use the same numbers).
NO_EXIT = 0
STOP_LOSS = 1
TAKE_PROFIT = 2

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# The weekday (Monday 0) whose rollover books three nights: Wednesday's, which carries the
# weekend (MT5's default).
TRIPLE_SWAP_WEEKDAY = 2
MONEY_DIGITS = 2
# A quotient within this many lot steps of a whole step is float noise, not a remainder.
_STEP_NOISE = 1e-9


# Fills -------------------------------------------------------------------------------------
@jitable
def fill_price(side: int, bid: float, spread: float, slippage: float) -> float:
    """Return the price of a market fill: a buy at the ask plus slippage, a sell at the bid
    minus slippage (with ``slippage`` 0, the mark of the side that closes a position)."""
    if side > 0:
        return bid + spread + slippage
    return bid - slippage


@jitable
def stop_levels(
    side: int, entry: float, stop_distance: float, target_distance: float
) -> tuple[float, float]:
    """Return the (stop-loss, take-profit) prices at the given distances from ``entry``.

    A NaN distance gives a NaN level: no stop (every comparison with NaN is false).
    """
    return entry - side * stop_distance, entry + side * target_distance


@jitable
def protective_exit(
    side: int,
    stop_loss: float,
    take_profit: float,
    open_bid: float,
    high_bid: float,
    low_bid: float,
    spread: float,
    slippage: float,
) -> tuple[int, float]:
    """Return (reason, exit price) when a bar touches a position's stop-loss or take-profit.

    ``reason`` is ``NO_EXIT`` (price NaN), ``STOP_LOSS`` or ``TAKE_PROFIT``. A long exits
    at the bid, a short at the ask (bid + spread). The open is checked first: a gap
    through a level fills at the open (a stop-loss with slippage, a take-profit without).
    Inside the bar the stop-loss wins when both levels are touched (the pessimistic
    order); a stop-loss fills at its level with slippage, a take-profit (a limit order)
    at its level. A tick is a bar whose open, high and low are its bid.
    """
    if side > 0:
        if open_bid <= stop_loss:
            return STOP_LOSS, open_bid - slippage
        if open_bid >= take_profit:
            return TAKE_PROFIT, open_bid
        if low_bid <= stop_loss:
            return STOP_LOSS, stop_loss - slippage
        if high_bid >= take_profit:
            return TAKE_PROFIT, take_profit
        return NO_EXIT, math.nan
    open_ask = open_bid + spread
    if open_ask >= stop_loss:
        return STOP_LOSS, open_ask + slippage
    if open_ask <= take_profit:
        return TAKE_PROFIT, open_ask
    if high_bid + spread >= stop_loss:
        return STOP_LOSS, stop_loss + slippage
    if low_bid + spread <= take_profit:
        return TAKE_PROFIT, take_profit
    return NO_EXIT, math.nan


# Costs -------------------------------------------------------------------------------------
@jitable
def commission(
    units: float,
    price: float,
    rate: float,
    per_lot: float,
    lot_units: float,
    quote_to_account: float,
) -> float:
    """Return the commission of one fill of ``units`` (unsigned) at ``price``.

    ``rate`` is a fraction of the traded value (in the quote currency, converted), and
    ``per_lot`` money per lot of ``lot_units`` units (already in the account currency).
    """
    return units * price * rate * quote_to_account + units / lot_units * per_lot


@jitable
def swap_amount(units: float, rate_long: float, rate_short: float, nights: float) -> float:
    """Return the financing of ``nights`` for signed ``units``: credited when positive.

    ``rate_long``/``rate_short`` are money per unit per night (negative is a charge); a
    unit is whatever ``units`` counts (the backtest's units, the paper account's lots).
    """
    rate = rate_long if units > 0.0 else rate_short
    return abs(units) * rate * nights


@jitable
def rollover_nights(rollover_ts: int, triple_weekday: int) -> int:
    """Return the nights a rollover at ``rollover_ts`` books: 0, 1 or 3 (the triple day).

    A rollover ends a trading day; the day is the UTC date 12 hours before the rollover,
    so a 21:00 UTC rollover (a server at UTC+3) and a 00:00 one (UTC) of a Wednesday
    session both count Wednesday. Saturday's and Sunday's book nothing.
    """
    weekday = ((rollover_ts - DAY_MS // 2) // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
    if weekday >= 5:
        return 0
    return 3 if weekday == triple_weekday else 1


@jitable
def first_rollover_after(ts: int, rollover_hour_utc: int) -> int:
    """Return the first daily rollover instant (at ``rollover_hour_utc``) after ``ts``."""
    offset = rollover_hour_utc * HOUR_MS
    return ((ts - offset) // DAY_MS + 1) * DAY_MS + offset


@jitable
def nights_between(previous_ts: int, ts: int, rollover_hour_utc: int, triple_weekday: int) -> int:
    """Return the swap nights of the rollovers in ``(previous_ts, ts]`` (a full week is 7)."""
    nights = 0
    rollover = first_rollover_after(previous_ts, rollover_hour_utc)
    while rollover <= ts:
        nights += rollover_nights(rollover, triple_weekday)
        rollover += DAY_MS
    return nights


# Margin and P&L ----------------------------------------------------------------------------
@jitable
def price_pnl(units: float, entry: float, exit_price: float, quote_to_account: float) -> float:
    """Return the P&L in the account currency of signed ``units`` from ``entry`` to
    ``exit_price``."""
    return units * (exit_price - entry) * quote_to_account


@jitable
def margin_required(units: float, price: float, quote_to_account: float, leverage: float) -> float:
    """Return the margin of ``units`` (either sign) at ``price``: notional / leverage."""
    return abs(units) * price * quote_to_account / leverage


@jitable
def is_stopped_out(balance: float, open_pnl: float, margin: float, stop_out_level: float) -> bool:
    """Return whether equity (balance + open P&L) is below ``stop_out_level`` × margin."""
    return balance + open_pnl < stop_out_level * margin


# Rounding at the boundary (plain Python) ---------------------------------------------------
def round_money(amount: float) -> float:
    """Return ``amount`` in cents of the account currency (never -0.0)."""
    return round(amount, MONEY_DIGITS) + 0.0


def round_price(price: float, digits: int) -> float:
    """Return ``price`` rounded to the symbol's ``digits``."""
    return round(price, digits)


def step_decimals(step: float) -> int:
    """Return how many decimals a multiple of ``step`` needs (0.01 → 2, 0.5 → 1, 1 → 0)."""
    decimals = 0
    scaled = step
    while decimals < 12 and abs(scaled - round(scaled)) > _STEP_NOISE * max(1.0, abs(scaled)):
        decimals += 1
        scaled = step * 10.0**decimals
    return decimals


def floor_lots(lots: float, step: float) -> float:
    """Return ``lots`` rounded down to the lot ``step`` (a request is never exceeded)."""
    steps = math.floor(lots / step + _STEP_NOISE)
    return round(steps * step, step_decimals(step))


def round_lots(lots: float, step: float) -> float:
    """Return ``lots`` rounded to the nearest lot ``step`` (results of lot arithmetic)."""
    return round(round(lots / step) * step, step_decimals(step))
