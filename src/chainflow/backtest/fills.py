"""The simulated account: fills, costs, swaps, stops and stop-out, one bar at a time.

``step_bar`` is the single source of truth for how an order and an open position evolve
over one bar. The event engine calls it once per bar with the strategy's last action; the
vectorized path calls it from a compiled loop over a signal array. Both therefore produce
the same trades for the same actions. The functions take only scalars and NumPy arrays so
that numba can compile them (``cache=True``); without numba they run as plain Python.

Conventions (``docs/backtesting.md``): bars are bid prices; a buy fills at the ask
(``bid + spread``), a sell at the bid; slippage moves every market fill against the
trader; stop-losses are checked before take-profits inside a bar; a gap through a level
fills at the open; take-profits are limit orders (no slippage). Each of these rules is one
function of ``chainflow.trading.api.account``, which the paper account calls too; this
module holds the backtest's bookkeeping around them (state vector, trade log, sizing).

numba's on-disk cache checks only the file of each compiled function: after a change to
``chainflow/trading/account/functions.py``, delete ``src/chainflow/backtest/__pycache__/*.nb*``
or the kernels keep the old rules compiled in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest.types import EXIT_REASONS, BacktestConfig
from chainflow.core.market import BarSeries
from chainflow.trading.api import account

F = TypeVar("F", bound=Callable[..., Any])

try:  # numba is optional: the same functions run as plain Python without it
    from numba import njit as _njit

    HAS_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps a fallback
    HAS_NUMBA = False


def compiled(function: F) -> F:
    """Return ``function`` compiled by numba (cached on disk) when numba is installed."""
    if not HAS_NUMBA:
        return function
    return cast(F, _njit(cache=True, nogil=True)(function))


# Actions: what the strategy decided at a bar's close, acted on at the next bar's open.
HOLD = 0
BUY = account.BUY
SELL = account.SELL

# Config vector (``config_vector``).
C_CASH = 0
C_COMMISSION = 1
C_PER_LOT = 2
C_LOT_SIZE = 3
C_SLIPPAGE = 4
C_SIZING = 5
C_SIZE = 6
C_LONG_ONLY = 7
C_LEVERAGE = 8
C_STOP_OUT = 9
C_SWAP_LONG = 10
C_SWAP_SHORT = 11
C_STOP_LOSS = 12
C_TAKE_PROFIT = 13
CONFIG_LENGTH = 14
SIZING_CODES = {"all-in": 0, "fixed": 1, "risk": 2}

# Account state vector (``new_state``).
S_BALANCE = 0
S_UNITS = 1
S_ENTRY_PRICE = 2
S_ENTRY_INDEX = 3
S_ENTRY_COMMISSION = 4
S_TRADE_SWAP = 5
S_SL_LEVEL = 6
S_TP_LEVEL = 7
S_TRADES = 8
S_COMMISSION_PAID = 9
S_SPREAD_PAID = 10
S_SLIPPAGE_PAID = 11
S_SWAP_TOTAL = 12
S_NOTIONAL = 13
S_BARS_IN_MARKET = 14
STATE_LENGTH = 15

# Trade record columns (``new_trade_buffer``).
T_SIDE = 0
T_UNITS = 1
T_ENTRY_INDEX = 2
T_ENTRY_PRICE = 3
T_EXIT_INDEX = 4
T_EXIT_PRICE = 5
T_PNL = 6
T_COMMISSION = 7
T_SWAP = 8
T_REASON = 9
TRADE_COLUMNS = 10

R_SIGNAL = 0
R_STOP_LOSS = account.STOP_LOSS
R_TAKE_PROFIT = account.TAKE_PROFIT
R_STOP_OUT = 3
R_END = 4
assert EXIT_REASONS[R_STOP_OUT] == "stop_out"
assert EXIT_REASONS[R_STOP_LOSS] == "stop_loss" and EXIT_REASONS[R_TAKE_PROFIT] == "take_profit"

# The backtest's rollover is at UTC midnight; Wednesday's books three nights.
ROLLOVER_HOUR_UTC = 0


def config_vector(config: BacktestConfig) -> NDArray[np.float64]:
    """Return ``config`` as the float vector the compiled account reads."""
    vector = np.zeros(CONFIG_LENGTH)
    vector[C_CASH] = config.cash
    vector[C_COMMISSION] = config.commission
    vector[C_PER_LOT] = config.commission_per_lot
    vector[C_LOT_SIZE] = config.lot_size
    vector[C_SLIPPAGE] = config.slippage
    vector[C_SIZING] = SIZING_CODES[config.sizing]
    vector[C_SIZE] = config.size
    vector[C_LONG_ONLY] = 1.0 if config.long_only else 0.0
    vector[C_LEVERAGE] = config.leverage
    vector[C_STOP_OUT] = config.stop_out_level
    vector[C_SWAP_LONG] = config.swap_long
    vector[C_SWAP_SHORT] = config.swap_short
    vector[C_STOP_LOSS] = math.nan if config.stop_loss is None else config.stop_loss
    vector[C_TAKE_PROFIT] = math.nan if config.take_profit is None else config.take_profit
    return vector


@compiled
def swap_nights(ts: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return, per bar, the swap nights charged between the previous bar and this one.

    A night is a UTC midnight crossed; it counts as ``account.rollover_nights`` says for
    the day that ends (Wednesday 3, Saturday and Sunday 0), so a full week counts 7.
    """
    nights = np.zeros(len(ts))
    for i in range(1, len(ts)):
        nights[i] = account.nights_between(
            ts[i - 1], ts[i], ROLLOVER_HOUR_UTC, account.TRIPLE_SWAP_WEEKDAY
        )
    return nights


# Rows of the market matrix (``market_matrix``).
M_OPEN = 0
M_HIGH = 1
M_LOW = 2
M_CLOSE = 3
M_SPREAD = 4
M_NIGHTS = 5


def market_matrix(bars: BarSeries, config: BacktestConfig) -> NDArray[np.float64]:
    """Return the ``(6, n)`` rows open, high, low, close, spread and swap nights of ``bars``.

    Swap nights are only counted when a swap rate is set (they cost nothing otherwise).
    """
    has_swap = config.swap_long != 0.0 or config.swap_short != 0.0
    nights = swap_nights(bars.ts) if has_swap else np.zeros(len(bars))
    rows = (bars.open, bars.high, bars.low, bars.close, bars.spread_array(config.spread), nights)
    return np.ascontiguousarray(np.vstack(rows))


def new_state(cash: float) -> NDArray[np.float64]:
    """Return a flat account holding ``cash``."""
    state = np.zeros(STATE_LENGTH)
    state[S_BALANCE] = cash
    state[S_SL_LEVEL] = math.nan
    state[S_TP_LEVEL] = math.nan
    return state


def new_trade_buffer(capacity: int) -> NDArray[np.float64]:
    """Return an empty trade buffer with room for ``capacity`` trades."""
    return np.zeros((max(capacity, 4), TRADE_COLUMNS))


@compiled
def grown(trades: NDArray[np.float64], count: int) -> NDArray[np.float64]:
    """Return ``trades``, doubled when fewer than four free rows are left."""
    if count + 4 <= trades.shape[0]:
        return trades
    bigger = np.zeros((trades.shape[0] * 2, trades.shape[1]))
    bigger[: trades.shape[0]] = trades
    return bigger


@compiled
def commission_of(units: float, price: float, cfg: NDArray[np.float64]) -> float:
    """Return the commission of one fill of ``units`` (unsigned) at ``price``."""
    rate, per_lot, lot_units = cfg[C_COMMISSION], cfg[C_PER_LOT], cfg[C_LOT_SIZE]
    return account.commission(units, price, rate, per_lot, lot_units, 1.0)


@compiled
def entry_units(equity: float, price: float, cfg: NDArray[np.float64]) -> float:
    """Return the units an entry at ``price`` buys (0 when it cannot afford one).

    The most the equity affords is ``equity * leverage / (price * (1 + commission) +
    commission_per_lot / lot_size)``; ``all-in`` takes its whole units, ``fixed`` and
    ``risk`` are capped by it.
    """
    if equity <= 0.0:
        return 0.0
    per_unit = price * (1.0 + cfg[C_COMMISSION]) + cfg[C_PER_LOT] / cfg[C_LOT_SIZE]
    affordable = equity * cfg[C_LEVERAGE] / per_unit
    sizing = cfg[C_SIZING]
    if sizing == 0.0:
        return float(math.floor(affordable))
    wanted = cfg[C_SIZE] if sizing == 1.0 else equity * cfg[C_SIZE] / cfg[C_STOP_LOSS]
    return float(min(wanted, affordable))


@compiled
def close_position(
    i: int,
    price: float,
    reason: int,
    spread: float,
    slipped: bool,
    cfg: NDArray[np.float64],
    state: NDArray[np.float64],
    trades: NDArray[np.float64],
) -> None:
    """Close the open position at ``price`` on bar ``i`` and record the trade."""
    units = state[S_UNITS]
    size = abs(units)
    commission = commission_of(size, price, cfg)
    gross = account.price_pnl(units, state[S_ENTRY_PRICE], price, 1.0)
    state[S_BALANCE] += gross - commission
    state[S_COMMISSION_PAID] += commission
    state[S_NOTIONAL] += size * price
    if units < 0.0:
        state[S_SPREAD_PAID] += size * spread
    if slipped:
        state[S_SLIPPAGE_PAID] += size * cfg[C_SLIPPAGE]
    k = int(state[S_TRADES])
    trades[k, T_SIDE] = 1.0 if units > 0.0 else -1.0
    trades[k, T_UNITS] = size
    trades[k, T_ENTRY_INDEX] = state[S_ENTRY_INDEX]
    trades[k, T_ENTRY_PRICE] = state[S_ENTRY_PRICE]
    trades[k, T_EXIT_INDEX] = i
    trades[k, T_EXIT_PRICE] = price
    trades[k, T_COMMISSION] = state[S_ENTRY_COMMISSION] + commission
    trades[k, T_SWAP] = state[S_TRADE_SWAP]
    trades[k, T_PNL] = gross - trades[k, T_COMMISSION] + state[S_TRADE_SWAP]
    trades[k, T_REASON] = reason
    state[S_TRADES] = k + 1
    state[S_UNITS] = 0.0
    state[S_ENTRY_PRICE] = 0.0
    state[S_ENTRY_COMMISSION] = 0.0
    state[S_TRADE_SWAP] = 0.0
    state[S_SL_LEVEL] = math.nan
    state[S_TP_LEVEL] = math.nan


@compiled
def open_position(
    i: int,
    side: int,
    bid: float,
    spread: float,
    cfg: NDArray[np.float64],
    state: NDArray[np.float64],
) -> None:
    """Open a position on bar ``i`` at its open (``bid``): long at the ask, short at the bid."""
    slippage = cfg[C_SLIPPAGE]
    price = account.fill_price(side, bid, spread, slippage)
    size = entry_units(state[S_BALANCE], price, cfg)
    if size <= 0.0:
        return
    commission = commission_of(size, price, cfg)
    state[S_BALANCE] -= commission
    state[S_COMMISSION_PAID] += commission
    state[S_NOTIONAL] += size * price
    state[S_SLIPPAGE_PAID] += size * slippage
    if side > 0:
        state[S_SPREAD_PAID] += size * spread
    state[S_UNITS] = size if side > 0 else -size
    state[S_ENTRY_PRICE] = price
    state[S_ENTRY_INDEX] = i
    state[S_ENTRY_COMMISSION] = commission
    state[S_TRADE_SWAP] = 0.0
    levels = account.stop_levels(side, price, cfg[C_STOP_LOSS], cfg[C_TAKE_PROFIT])
    state[S_SL_LEVEL], state[S_TP_LEVEL] = levels  # a NaN distance stays NaN: no stop


@compiled
def step_bar(
    i: int,
    action: int,
    market: NDArray[np.float64],
    cfg: NDArray[np.float64],
    state: NDArray[np.float64],
    trades: NDArray[np.float64],
    equity: NDArray[np.float64],
) -> float:
    """Run bar ``i`` given the ``action`` decided at bar ``i - 1``; return the units held.

    Order: swap for the nights since the last bar; a gap through the stop-loss or
    take-profit at the open; the action's market order at the open; stop-loss (first) and
    take-profit inside the bar; stop-out at the bar's worst price; mark to market on close
    into ``equity[i]``. ``trades`` needs 4 free rows (``grown``).
    """
    o, h, lo, c = market[M_OPEN, i], market[M_HIGH, i], market[M_LOW, i], market[M_CLOSE, i]
    sp, night = market[M_SPREAD, i], market[M_NIGHTS, i]
    slippage = cfg[C_SLIPPAGE]
    units = state[S_UNITS]
    if units != 0.0 and night > 0.0:
        swap = account.swap_amount(units, cfg[C_SWAP_LONG], cfg[C_SWAP_SHORT], night)
        state[S_BALANCE] += swap
        state[S_TRADE_SWAP] += swap
        state[S_SWAP_TOTAL] += swap
    if units != 0.0:  # the open alone: a gap through a level
        side = 1 if units > 0.0 else -1
        sl, tp = state[S_SL_LEVEL], state[S_TP_LEVEL]
        reason, price = account.protective_exit(side, sl, tp, o, o, o, sp, slippage)
        if reason != account.NO_EXIT:
            close_position(i, price, reason, sp, reason == R_STOP_LOSS, cfg, state, trades)
    units = state[S_UNITS]
    current = 1 if units > 0.0 else (-1 if units < 0.0 else 0)
    target = current
    if action == BUY:
        target = 1
    elif action == SELL:
        target = 0 if cfg[C_LONG_ONLY] != 0.0 else -1
    if target != current:
        if current != 0:
            price = account.fill_price(-current, o, sp, slippage)
            close_position(i, price, R_SIGNAL, sp, True, cfg, state, trades)
        if target != 0:
            open_position(i, target, o, sp, cfg, state)
    units = state[S_UNITS]
    if units != 0.0:  # inside the bar
        side = 1 if units > 0.0 else -1
        sl, tp = state[S_SL_LEVEL], state[S_TP_LEVEL]
        reason, price = account.protective_exit(side, sl, tp, o, h, lo, sp, slippage)
        if reason != account.NO_EXIT:
            close_position(i, price, reason, sp, reason == R_STOP_LOSS, cfg, state, trades)
    units = state[S_UNITS]
    if units == 0.0:
        equity[i] = state[S_BALANCE]
        return 0.0
    entry = state[S_ENTRY_PRICE]
    side = 1 if units > 0.0 else -1
    worst = account.fill_price(-side, lo if side > 0 else h, sp, slippage)
    margin = account.margin_required(units, entry, 1.0, cfg[C_LEVERAGE])
    open_pnl = account.price_pnl(units, entry, worst, 1.0)
    if account.is_stopped_out(state[S_BALANCE], open_pnl, margin, cfg[C_STOP_OUT]):
        close_position(i, worst, R_STOP_OUT, sp, True, cfg, state, trades)
        equity[i] = state[S_BALANCE]
        return 0.0
    state[S_BARS_IN_MARKET] += 1.0
    mark = account.fill_price(-side, c, sp, 0.0)
    equity[i] = state[S_BALANCE] + account.price_pnl(units, entry, mark, 1.0)
    return float(units)


@compiled
def close_at_end(
    i: int,
    market: NDArray[np.float64],
    cfg: NDArray[np.float64],
    state: NDArray[np.float64],
    trades: NDArray[np.float64],
) -> float:
    """Close what is open at bar ``i``'s close (reason ``end``); return the final equity."""
    units = state[S_UNITS]
    if units != 0.0:
        side = 1 if units > 0.0 else -1
        spread = market[M_SPREAD, i]
        price = account.fill_price(-side, market[M_CLOSE, i], spread, cfg[C_SLIPPAGE])
        close_position(i, price, R_END, spread, True, cfg, state, trades)
    return float(state[S_BALANCE])
