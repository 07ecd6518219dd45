"""The event-driven engine: any ``chainflow.trading`` ``Strategy``, one bar at a time.

For each bar ``i`` the engine first runs the account over the bar (``fills.step_bar``:
the order decided at bar ``i - 1`` fills at bar ``i``'s open, then stops and stop-out
inside the bar, then the mark on close), and only then shows the strategy bar ``i`` —
closed — with the position it now holds. The strategy's decision becomes the order of bar
``i + 1``. The strategy sees nothing else: no later bar exists for it, so it cannot look
ahead. ``buy`` means "be long", ``sell`` "be short" (flat when long-only) and ``hold``
"keep the current position"; an action equal to the current side places no order.

A strategy may define ``prepare(bars)``: the engine calls it once before the loop so that a
built-in strategy computes its indicators in one batch (the values at bar ``i`` still
depend only on bars up to ``i``; the tests check that on cut data).

Speed (the strategy still sees every bar, in order, with the same position as above):

- The account runs ahead in compiled chunks (``step_ahead``) assuming the strategy's next
  decisions repeat a guess (``hold``, or its last action when it repeated it). The
  strategy is then shown the chunk's bars; at the first decision that differs from the
  guess, the account goes back to its state saved before the next bar and runs on from
  there. One compiled call covers many bars instead of one per bar, with the same result.
- The bar is a ``BarView``: a ``BarValues`` that reads the engine's columns on access.
- A strategy whose ``borrows_context`` attribute is ``True`` promises that ``on_bar``
  keeps no reference to its context or the context's bar after returning (the built-in
  strategies store copies). The engine then passes one context and one bar view, updated
  in place, on every call. Without the attribute, each call gets new objects.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest import fills
from chainflow.backtest.metrics import AccountTotals, compute_metrics
from chainflow.backtest.types import (
    EXIT_REASONS,
    BacktestConfig,
    BacktestResult,
    Bars,
    EngineName,
    Trade,
)
from chainflow.features.api import BarValues
from chainflow.trading.api import Decision, Strategy, StrategyContext

ACTION_CODES: dict[str, int] = {"buy": fills.BUY, "sell": fills.SELL, "hold": fills.HOLD}
# Bars run ahead per compiled call (see ``run_event``): the span adapts between these.
MIN_SPAN = 8
MAX_SPAN = 2048


def trades_from_buffer(
    buffer: NDArray[np.float64], count: int, ts: NDArray[np.int64]
) -> list[Trade]:
    """Return the ``count`` first trade records of ``buffer`` as ``Trade`` values."""
    records = buffer[:count]
    entries = records[:, fills.T_ENTRY_INDEX].astype(np.int64)
    exits = records[:, fills.T_EXIT_INDEX].astype(np.int64)
    rows = zip(records.tolist(), ts[entries].tolist(), ts[exits].tolist(), strict=True)
    trades = []
    for row, entry_ts, exit_ts in rows:
        entry_index, exit_index = int(row[fills.T_ENTRY_INDEX]), int(row[fills.T_EXIT_INDEX])
        trades.append(
            Trade(
                side="long" if row[fills.T_SIDE] > 0 else "short",
                size=row[fills.T_UNITS],
                entry_ts=entry_ts,
                entry_price=row[fills.T_ENTRY_PRICE],
                exit_ts=exit_ts,
                exit_price=row[fills.T_EXIT_PRICE],
                pnl=row[fills.T_PNL],
                commission=row[fills.T_COMMISSION],
                swap=row[fills.T_SWAP],
                exit_reason=EXIT_REASONS[int(row[fills.T_REASON])],
                entry_index=entry_index,
                exit_index=exit_index,
            )
        )
    return trades


def account_totals(state: NDArray[np.float64], cash: float) -> AccountTotals:
    """Return the running totals of a finished account ``state``."""
    return AccountTotals(
        initial_cash=cash,
        commission=float(state[fills.S_COMMISSION_PAID]),
        spread=float(state[fills.S_SPREAD_PAID]),
        slippage=float(state[fills.S_SLIPPAGE_PAID]),
        swap=float(state[fills.S_SWAP_TOTAL]),
        traded_value=float(state[fills.S_NOTIONAL]),
        bars_in_market=int(state[fills.S_BARS_IN_MARKET]),
    )


def build_result(
    bars: Bars,
    config: BacktestConfig,
    equity: NDArray[np.float64],
    state: NDArray[np.float64],
    buffer: NDArray[np.float64],
    *,
    strategy: str,
    params: Mapping[str, Any],
    engine: EngineName,
    started: float,
    notes: list[str] | None = None,
) -> BacktestResult:
    """Return the result of a finished run (``started`` is a ``perf_counter`` reading)."""
    trades = trades_from_buffer(buffer, int(state[fills.S_TRADES]), bars.ts)
    metrics = compute_metrics(
        equity,
        bars.ts,
        trades,
        account_totals(state, config.cash),
        risk_free_rate=config.risk_free_rate,
        periods_per_year=config.periods_per_year,
    )
    return BacktestResult(
        trades=trades,
        equity=equity,
        ts=bars.ts,
        metrics=metrics,
        params=dict(params),
        strategy=strategy,
        engine=engine,
        elapsed_s=time.perf_counter() - started,
        notes=list(notes or []),
    )


class BarColumns(dict[int, list[Any]]):
    """Column ``k`` (ts, open, high, low, close, volume, spread) of bars as a list, made on
    first read: a strategy that reads only ``ts`` pays for one conversion, not seven."""

    def __init__(self, arrays: tuple[NDArray[Any], ...]) -> None:
        super().__init__()
        self.arrays = arrays

    def __missing__(self, k: int) -> list[Any]:
        column: list[Any] = self.arrays[k].tolist()
        self[k] = column
        return column


class BarView(BarValues):
    """Bar ``i`` of a backtest's columns, read on access: a ``BarValues`` that costs no copy.

    The engine makes one per bar (or, for a strategy with ``borrows_context``, one for the
    whole run, moved from bar to bar). Fields read the engine's columns, so a view equals
    the ``BarValues`` of the same values. Calling ``BarView(...)`` like ``BarValues`` (as
    ``dataclasses.replace`` does) and pickling give a plain ``BarValues``. A view kept
    after the run keeps the run's columns alive: keep ``values()`` instead.
    """

    __slots__ = ("_columns", "_i")
    _columns: BarColumns
    _i: int

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - see class docstring
        return BarValues(*args, **kwargs)

    @classmethod
    def at(cls, columns: BarColumns, i: int) -> BarView:
        """Return the view of bar ``i`` of ``columns`` (ts, open, high, low, close, volume,
        spread)."""
        view: BarView = object.__new__(cls)
        _SET_COLUMNS(view, columns)
        _SET_INDEX(view, i)
        return view

    def values(self) -> BarValues:
        """Return the bar as a plain ``BarValues``."""
        return BarValues(*astuple_of(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BarValues):
            return NotImplemented
        return astuple_of(self) == astuple_of(other)

    def __hash__(self) -> int:
        return hash(astuple_of(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (BarValues, astuple_of(self))


def _column(k: int, name: str) -> property:
    def read(self: BarView) -> Any:
        return self._columns[k][self._i]

    return property(read, doc=f"The bar's ``{name}``.")


BAR_FIELDS = ("ts", "open", "high", "low", "close", "volume", "spread")
for _k, _name in enumerate(BAR_FIELDS):
    setattr(BarView, _name, _column(_k, _name))
_SET_COLUMNS = BarView._columns.__set__  # type: ignore[attr-defined]
_SET_INDEX = BarView._i.__set__  # type: ignore[attr-defined]
_SET_POSITION = StrategyContext.position.__set__  # type: ignore[attr-defined]


def astuple_of(bar: BarValues) -> tuple[Any, ...]:
    """Return the fields of ``bar`` in ``BarValues`` order."""
    return tuple(getattr(bar, name) for name in BAR_FIELDS)


@fills.compiled
def step_ahead(
    start: int,
    stop: int,
    first: int,
    then: int,
    restore: int,
    market: NDArray[np.float64],
    cfg: NDArray[np.float64],
    state: NDArray[np.float64],
    trades: NDArray[np.float64],
    equity: NDArray[np.float64],
    held: NDArray[np.float64],
    saved: NDArray[np.float64],
) -> bool:
    """Run bars ``start .. stop - 1``: the first with ``first``, the others with ``then``.

    First, when ``restore >= 0``, the state goes back to ``saved[restore]``. Before bar
    ``start + k`` the state is saved in ``saved[k]``; after it, the position in lots goes
    to ``held[k]``. ``trades`` needs ``3 * (stop - start) + 4`` free rows. Return whether
    every position is finite.
    """
    if restore >= 0:
        state[:] = saved[restore]
    lot_size = cfg[fills.C_LOT_SIZE]
    action = first
    finite = True
    for i in range(start, stop):
        k = i - start
        saved[k] = state
        held[k] = fills.step_bar(i, action, market, cfg, state, trades, equity) / lot_size
        finite = finite and math.isfinite(held[k])
        action = then
    return finite


def with_room(trades: NDArray[np.float64], count: int, rows: int) -> NDArray[np.float64]:
    """Return ``trades``, or a larger copy, with at least ``rows`` free rows after ``count``."""
    if trades.shape[0] - count >= rows:
        return trades
    bigger = fills.new_trade_buffer(max(2 * trades.shape[0], count + rows))
    bigger[:count] = trades[:count]
    return bigger


def show_borrowed(
    positions: list[float],
    i: int,
    then: int,
    on_bar: Callable[[StrategyContext], Decision],
    context: StrategyContext,
    view: BarView,
) -> tuple[int, int]:
    """Show bars ``i, i + 1, ...`` held at ``positions`` through one context moved in place.

    Stop after the first decision other than ``then``; return the next bar and that
    decision's action code (``then`` when all agreed).
    """
    set_index, set_position, codes, code = _SET_INDEX, _SET_POSITION, ACTION_CODES, then
    for position in positions:
        set_index(view, i)
        set_position(context, position)
        i += 1
        code = codes[on_bar(context).action]
        if code != then:
            break
    return i, code


def show_fresh(
    positions: list[float],
    i: int,
    then: int,
    on_bar: Callable[[StrategyContext], Decision],
    columns: BarColumns,
    symbol: str,
) -> tuple[int, int]:
    """``show_borrowed`` with a new context and bar view per bar."""
    new_view, codes, code = BarView.at, ACTION_CODES, then
    for position in positions:
        context = StrategyContext(None, position, new_view(columns, i), symbol)
        i += 1
        code = codes[on_bar(context).action]
        if code != then:
            break
    return i, code


def run_event(
    bars: Bars,
    strategy: Strategy,
    config: BacktestConfig,
    *,
    params: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` bar by bar (see the module docstring)."""
    started = time.perf_counter()
    prepare = getattr(strategy, "prepare", None)
    if callable(prepare):
        prepare(bars)
    market = fills.market_matrix(bars, config)
    cfg = fills.config_vector(config)
    state = fills.new_state(config.cash)
    buffer = fills.new_trade_buffer(1024)
    n = len(bars)
    equity = np.empty(n)
    spreads = bars.spread if bars.spread is not None else np.full(n, np.nan)
    columns = BarColumns(
        (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, spreads)
    )
    held, saved = np.empty(MAX_SPAN), np.empty((MAX_SPAN, fills.STATE_LENGTH))
    on_bar, symbol = strategy.on_bar, bars.symbol
    borrowed = getattr(strategy, "borrows_context", False) is True
    view = BarView.at(columns, 0)
    context = StrategyContext(None, 0.0, view, symbol)
    hold = fills.HOLD
    start, first, then, restore, span = 0, hold, hold, -1, MIN_SPAN
    while start < n:
        stop = min(n, start + span)
        buffer = with_room(buffer, int(state[fills.S_TRADES]), 3 * (stop - start) + 4)
        if not step_ahead(start, stop, first, then, restore, market, cfg, state, buffer,
                          equity, held, saved):  # fmt: skip
            raise ValueError(
                f"expected a finite position; received a non-finite one at bars {start}.."
                f"{stop - 1} (are the prices finite?)"
            )
        positions = held[: stop - start].tolist()
        if borrowed:
            i, code = show_borrowed(positions, start, then, on_bar, context, view)
        else:
            i, code = show_fresh(positions, start, then, on_bar, columns, symbol)
        # Bars ``start .. i - 1`` ran with the actions decided before them; the rest of the
        # chunk assumed ``then`` at bar ``i - 1`` and is undone when that was not the case.
        restore = i - start if i < stop else -1
        span = min(MAX_SPAN, 2 * span) if i == stop else max(MIN_SPAN, 2 * (i - start))
        # Assume the next decisions repeat this one when it repeated the one before.
        then = code if code == (then if i - start > 1 else first) else hold
        start, first = i, code
    if n:
        buffer = fills.grown(buffer, int(state[fills.S_TRADES]))
        equity[n - 1] = fills.close_at_end(n - 1, market, cfg, state, buffer)
    return build_result(
        bars,
        config,
        equity,
        state,
        buffer,
        strategy=getattr(strategy, "name", type(strategy).__name__),
        params=params or {},
        engine="event",
        started=started,
        notes=notes,
    )
