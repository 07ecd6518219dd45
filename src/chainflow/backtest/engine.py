"""The event-driven engine: any ``chainflow.trading`` ``Strategy``, one bar at a time.

For each bar ``i`` the engine first runs the account over the bar (``fills.step_bar``:
the order decided at bar ``i - 1`` fills at bar ``i``'s open, then stops and stop-out
inside the bar, then the mark on close), and only then shows the strategy bar ``i`` —
closed — with the position it now holds. The strategy's decision becomes the order of bar
``i + 1``. The strategy sees nothing else: no later bar exists for it, so it cannot look
ahead. ``buy`` means "be long", ``sell`` "be short" (flat when long-only) and ``hold``
"keep the current position"; an action equal to the current side places no order.

With ``trade_from = k`` bars ``0 .. k - 1`` are warm-up: the strategy sees them (flat) and
decides, but no order is placed; its decision at bar ``k - 1`` is the order of bar ``k``'s
open. The account, the equity curve, the trade log (indices from bar ``k``) and the
metrics start at bar ``k``. The vectorized path follows the same rule.

A strategy may define ``prepare(bars)``: the engine calls it once before the loop so that a
built-in strategy computes its indicators in one batch (the values at bar ``i`` still
depend only on bars up to ``i``; the tests check that on cut data).

Speed (the strategy still sees every bar, in order, with the same position as above):

- The account runs ahead in compiled chunks (``step_ahead``) assuming the strategy's next
  decisions repeat a guess (``hold``, or its last action when it repeated it). The
  strategy is then shown the chunk's bars; at the first decision that differs from the
  guess, the account goes back to its state saved before the next bar and runs on from
  there. One compiled call covers many bars instead of one per bar, with the same result.
- The bar is a ``BarView``: a ``core.market.BarRow`` that reads the engine's columns on
  access.
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
from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.results import build_result, check_trade_from
from chainflow.backtest.types import BacktestConfig, BacktestResult
from chainflow.core.market import OHLCV, BarRow, BarSeries
from chainflow.trading.api import Decision, Strategy, StrategyContext

ACTION_CODES: dict[str, int] = {"buy": fills.BUY, "sell": fills.SELL, "hold": fills.HOLD}
# Bars run ahead per compiled call (see ``run_event``): the span adapts between these.
MIN_SPAN = 8
MAX_SPAN = 2048


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


class BarView(BarRow):
    """Bar ``i`` of a backtest's columns, read on access: a ``BarRow`` that costs no copy.

    The engine makes one per bar (or, for a strategy with ``borrows_context``, one for the
    whole run, moved from bar to bar). Fields read the engine's columns, so a view equals
    the ``BarRow`` of the same values. Calling ``BarView(...)`` like ``BarRow`` (as
    ``dataclasses.replace`` does) and pickling give a plain ``BarRow``. A view kept after
    the run keeps the run's columns alive: keep ``values()`` instead.
    """

    __slots__ = ("_columns", "_i")
    _columns: BarColumns
    _i: int

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - see class docstring
        return BarRow(*args, **kwargs)

    @classmethod
    def at(cls, columns: BarColumns, i: int) -> BarView:
        """Return the view of bar ``i`` of ``columns`` (ts, open, high, low, close, volume,
        spread)."""
        view: BarView = object.__new__(cls)
        _SET_COLUMNS(view, columns)
        _SET_INDEX(view, i)
        return view

    def values(self) -> BarRow:
        """Return the bar as a plain ``BarRow``."""
        return BarRow(*astuple_of(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BarRow):
            return NotImplemented
        return astuple_of(self) == astuple_of(other)

    def __hash__(self) -> int:
        return hash(astuple_of(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (BarRow, astuple_of(self))


def _column(k: int, name: str) -> property:
    def read(self: BarView) -> Any:
        return self._columns[k][self._i]

    return property(read, doc=f"The bar's ``{name}``.")


BAR_FIELDS = ("ts", "open", "high", "low", "close", "volume", "spread")
for _k, _name in enumerate(BAR_FIELDS):
    setattr(BarView, _name, _column(_k, _name))
# The slots' member descriptors (from the class dicts): they set a view's fields and a frozen
# context's position.
_SET_COLUMNS = vars(BarView)["_columns"].__set__
_SET_INDEX = vars(BarView)["_i"].__set__
_SET_POSITION = vars(StrategyContext)["position"].__set__


def astuple_of(bar: OHLCV) -> tuple[Any, ...]:
    """Return the fields of ``bar`` in ``BarRow`` order."""
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


def warm_up(
    stop: int,
    on_bar: Callable[[StrategyContext], Decision],
    columns: BarColumns,
    symbol: str,
    shared: tuple[StrategyContext, BarView] | None,
) -> int:
    """Show bars ``0 .. stop - 1`` flat (through ``shared`` when the strategy borrows its
    context); return the action code of the last decision (``HOLD`` without bars)."""
    code = fills.HOLD
    for i in range(stop):
        if shared is not None:
            context, view = shared
            _SET_INDEX(view, i)
            _SET_POSITION(context, 0.0)
        else:
            context = StrategyContext(None, 0.0, BarView.at(columns, i), symbol)
        code = ACTION_CODES[on_bar(context).action]
    return code


def run_event(
    bars: BarSeries,
    strategy: Strategy,
    config: BacktestConfig,
    *,
    params: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
    trade_from: int = 0,
) -> BacktestResult:
    """Backtest ``strategy`` on ``bars`` bar by bar (see the module docstring); bars
    before ``trade_from`` only warm the strategy up."""
    started = time.perf_counter()
    trade_from = check_trade_from(trade_from, len(bars))
    prepare = getattr(strategy, "prepare", None)
    if callable(prepare):
        prepare(bars)
    market = fills.market_matrix(bars, config)
    cfg = fills.config_vector(config)
    state = fills.new_state(config.cash)
    buffer = fills.new_trade_buffer(1024)
    n = len(bars)
    equity = np.full(n, float(config.cash))
    columns = BarColumns(
        (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, bars.spread)
    )
    held, saved = np.empty(MAX_SPAN), np.empty((MAX_SPAN, fills.STATE_LENGTH))
    on_bar, symbol = strategy.on_bar, bars.symbol
    borrowed = getattr(strategy, "borrows_context", False) is True
    view = BarView.at(columns, 0)
    context = StrategyContext(None, 0.0, view, symbol)
    hold = fills.HOLD
    shared = (context, view) if borrowed else None
    first = warm_up(trade_from, on_bar, columns, symbol, shared)
    start, then, restore, span = trade_from, hold, -1, MIN_SPAN
    while start < n:
        stop = min(n, start + span)
        buffer = with_room(buffer, int(state[fills.S_TRADES]), 3 * (stop - start) + 4)
        if not step_ahead(
            start, stop, first, then, restore, market, cfg, state, buffer, equity, held, saved
        ):
            raise InvalidBacktestInputError(
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
        trade_from=trade_from,
    )
