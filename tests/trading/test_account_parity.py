"""One account, two drivers: the backtest and the paper desk give the same trades and equity.

A small deterministic EURUSD market is written as ticks (bids along each 4-hour bar's
path, a 2-point spread); the backtest sees the bars those ticks make, the paper desk the
ticks themselves. A scripted strategy opens a long (closed by its take-profit after the
Wednesday rollover's triple swap), a short (closed by a gap through its stop-loss), a long
reversed into a short at the next open (the short pays a swap, credited, and hits its
stop-loss inside a bar) and a last long closed at the end. Every fill pays 7.00 per lot
and 1 point of slippage (not the take-profits, which are limit orders).

Where the two drivers differ by design, the test states it:

- the backtest places a stop at a distance from the fill; a paper signal carries price
  levels, so each signal here carries the levels at the backtest's distances from the
  price its order will fill at (the next bar's open);
- the backtest closes what is open at the last bar's close (reason ``end``); the desk
  gets a ``hold`` signal just before the last tick;
- a stop fills at its level in the backtest (a continuous path); the paper account fills
  at the first tick through it, so each path has a tick at the level.

A second market stops a position out: 2.5 lots (about 92 % of the balance as margin at
leverage 30), no stops, and a bar that gaps 2.5 cents down. The backtest tests the
stop-out once per bar at the bar's worst price against the margin at the entry price; the
paper account tests it at every tick against the margin at the mark. So its path's first
tick below the level is the bar's low (a gap): both close there, with slippage and the
commission, reason ``stop_out``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from chainflow.backtest.engine import run_event
from chainflow.backtest.types import BacktestConfig, BacktestResult
from chainflow.backtest.vectorized import run_signals
from chainflow.core.market import BarSeries
from chainflow.trading.api import account
from chainflow.trading.paper.desk import PaperDesk, PaperSignal
from chainflow.trading.paper.positions import PaperInstrument, PaperSwapCharge, PaperTrade
from tests.backtest.builders import ScriptedStrategy

TENANT = "tenant-parity"
HOUR_MS = 3_600_000
BAR_MS = 4 * HOUR_MS
TICK_MS = 10 * 60_000
START_MS = 1_704_067_200_000 + 2 * 24 * HOUR_MS + 8 * HOUR_MS  # Wednesday 2024-01-03 08:00 UTC
SPREAD = 0.0002
SLIPPAGE = 0.00001
STOP, TARGET = 0.0030, 0.0040
LOTS, CONTRACT = 0.1, 100_000.0
PER_LOT = 7.0
SWAP_LONG_POINTS, SWAP_SHORT_POINTS = -7.5, 2.5  # per lot per night, in points (1e-5)
BUY, SELL, HOLD = 1, -1, 0

# Bid ticks of each bar (the first is the open, the last the close) and the action the
# strategy decides at the bar's close.
PATHS: tuple[tuple[tuple[float, ...], int], ...] = (
    ((1.10000, 1.10040, 1.09960, 1.10000), BUY),  # Wed 08:00
    ((1.10010, 1.10060, 1.09950, 1.10050), HOLD),  # long at 1.10031, SL 1.09731, TP 1.10431
    ((1.10050, 1.10150, 1.10020, 1.10120), HOLD),
    ((1.10120, 1.10200, 1.10100, 1.10180), HOLD),
    ((1.10190, 1.10150, 1.10300, 1.10431, 1.10480, 1.10400), SELL),  # Thu 00:00: 3 nights; TP
    ((1.10400, 1.10450, 1.10350, 1.10420), HOLD),  # short at 1.10399, SL 1.10699
    ((1.10700, 1.10750, 1.10680, 1.10720), BUY),  # gap: the open's ask 1.10720 is past the SL
    ((1.10730, 1.10800, 1.10700, 1.10780), SELL),  # long at 1.10751
    ((1.10760, 1.10800, 1.10720, 1.10750), HOLD),  # reversed: short at 1.10759, SL 1.11059
    ((1.10750, 1.10800, 1.10700, 1.10740), HOLD),
    ((1.10730, 1.10780, 1.10700, 1.10760), HOLD),  # Fri 00:00: 1 night, credited
    ((1.10770, 1.10900, 1.11039, 1.11100, 1.11080), BUY),  # the ask 1.11059 touches the SL
    ((1.11090, 1.11150, 1.11050, 1.11120), HOLD),  # long at 1.11111
    ((1.11130, 1.11180, 1.11100, 1.11160), HOLD),  # closed at the end: 1.11159
)

# Stop-out (all Wednesday: no rollover). Long 2.5 lots at 1.10031: margin 9169.25 at the
# entry, the stop-out below 4584.63 of equity (the backtest) - a bid of about 1.0787.
STOP_OUT_LOTS = 2.5
STOP_OUT_PATHS: tuple[tuple[tuple[float, ...], int], ...] = (
    ((1.10000, 1.10040, 1.09960, 1.10000), BUY),  # Wed 08:00
    ((1.10010, 1.10060, 1.09950, 1.10050), HOLD),  # long at 1.10031
    ((1.07500, 1.07700, 1.07600, 1.07650), HOLD),  # gap: out at 1.07499 (the low, slipped)
    ((1.07660, 1.07700, 1.07600, 1.07680), HOLD),
)


@dataclass(frozen=True, slots=True)
class Market:
    """A scripted market: each bar's bid ticks and action, the lots, the stop distances."""

    paths: tuple[tuple[tuple[float, ...], int], ...]
    lots: float
    stop: float | None
    target: float | None


TRADING = Market(PATHS, LOTS, STOP, TARGET)
STOPPED_OUT = Market(STOP_OUT_PATHS, STOP_OUT_LOTS, None, None)


def tick_times(market: Market, bar: int) -> list[int]:
    return [START_MS + bar * BAR_MS + k * TICK_MS for k in range(len(market.paths[bar][0]))]


def market_bars(market: Market) -> BarSeries:
    rows = [(path[0], max(path), min(path), path[-1]) for path, _ in market.paths]
    array = np.asarray(rows)
    n = len(rows)
    return BarSeries.from_arrays(
        ts=START_MS + np.arange(n, dtype=np.int64) * BAR_MS,
        open=array[:, 0],
        high=array[:, 1],
        low=array[:, 2],
        close=array[:, 3],
        volume=np.ones(n),
        spread=np.full(n, SPREAD),
        symbol="EURUSD",
        timeframe="H4",
    )


def backtest_config(market: Market) -> BacktestConfig:
    point = 1e-5
    return BacktestConfig(
        cash=10_000.0,
        commission_per_lot=PER_LOT,
        lot_size=CONTRACT,
        slippage=SLIPPAGE,
        sizing="fixed",
        size=market.lots * CONTRACT,
        leverage=30.0,
        stop_out_level=0.5,
        swap_long=SWAP_LONG_POINTS * point,  # money per unit per night
        swap_short=SWAP_SHORT_POINTS * point,
        stop_loss=market.stop,
        take_profit=market.target,
    )


def run_backtest(market: Market = TRADING) -> BacktestResult:
    actions = [action for _, action in market.paths]
    bars, config = market_bars(market), backtest_config(market)
    result = run_event(bars, ScriptedStrategy(actions), config)
    vectorized = run_signals(bars, np.asarray(actions), config)
    assert vectorized.trades == result.trades
    assert np.array_equal(vectorized.equity, result.equity)
    return result


def desk_signal(market: Market, bar: int, action: int, ts: int) -> PaperSignal:
    """The desk's signal for the strategy's action at ``bar``: levels at the backtest's
    distances from the fill the order will get at the next bar's open."""
    name = {BUY: "buy", SELL: "sell", HOLD: "hold"}[action]
    stop_loss = take_profit = None
    if action != HOLD:
        entry = account.fill_price(action, market.paths[bar + 1][0][0], SPREAD, SLIPPAGE)
        stops = (math.nan if d is None else d for d in (market.stop, market.target))
        levels = account.stop_levels(action, entry, *stops)
        stop_loss, take_profit = (None if math.isnan(level) else level for level in levels)
    return PaperSignal(
        symbol="EURUSD",
        ts=ts,
        action=name,
        size=market.lots,
        stop_loss=stop_loss,
        take_profit=take_profit,
        model="scripted@1",
        reasons=(name,),
    )


async def run_paper(market: Market = TRADING) -> tuple[PaperDesk, list[float]]:
    """Feed the ticks to a desk as the trading service does; return it and the equity at
    each bar's last tick."""
    desk = PaperDesk(
        starting_balance=10_000.0,
        leverage=30.0,
        stop_out_level=0.5,
        rollover_hour_utc=0,
        max_daily_loss_pct=100.0,
        max_drawdown_pct=100.0,
    )
    desk.book(TENANT).account.instruments["EURUSD"] = PaperInstrument(
        "EURUSD",
        contract_size=CONTRACT,
        swap_long=SWAP_LONG_POINTS,
        swap_short=SWAP_SHORT_POINTS,
        commission_per_lot=PER_LOT,
        slippage=SLIPPAGE,
    )
    equity: list[float] = []
    last = len(market.paths) - 1
    for bar, (path, action) in enumerate(market.paths):
        times = tick_times(market, bar)
        for k, (ts, bid) in enumerate(zip(times, path, strict=True)):
            if bar == last and k == len(path) - 1:  # flatten at the last tick (the backtest's end)
                flatten = desk_signal(market, bar, HOLD, times[k - 1])
                assert desk.on_signal(TENANT, flatten) == []
            await desk.on_tick(TENANT, "EURUSD", ts, bid, round(bid + SPREAD, 5))
        equity.append(desk.equity(TENANT))
        if action != HOLD and bar < last:
            assert desk.on_signal(TENANT, desk_signal(market, bar, action, times[-1])) == []
    return desk, equity


def bar_ts(ts: int) -> int:
    return ts - (ts - START_MS) % BAR_MS


def cents(value: float) -> float:
    return round(value, 2)


class TestBacktestAndPaperAgree:
    async def test_same_trades_prices_times_and_sizes(self) -> None:
        result = run_backtest()
        desk, _ = await run_paper()
        paper: list[PaperTrade] = desk.book(TENANT).account.trades
        assert [t.exit_reason for t in result.trades] == [
            "take_profit",
            "stop_loss",
            "signal",
            "stop_loss",
            "end",
        ]
        assert len(paper) == len(result.trades)
        for simulated, traded in zip(result.trades, paper, strict=True):
            assert simulated.side == ("long" if traded.side == "buy" else "short")
            assert simulated.size == pytest.approx(traded.lots * CONTRACT, abs=1e-9)
            assert (simulated.entry_ts, simulated.exit_ts) == (
                bar_ts(traded.entry_ts),
                bar_ts(traded.exit_ts),
            )
            assert round(simulated.entry_price, 5) == traded.entry_price
            assert round(simulated.exit_price, 5) == traded.exit_price
            # The backtest's pnl is net of commissions and swaps; the paper's is the price P&L.
            assert cents(simulated.pnl - simulated.swap) == cents(traded.pnl - traded.commission)
            assert cents(simulated.commission) == traded.commission

    async def test_same_equity_to_the_cent_at_every_bar(self) -> None:
        result = run_backtest()
        desk, equity = await run_paper()
        assert [cents(value) for value in result.equity] == [cents(value) for value in equity]
        book = desk.book(TENANT).account
        assert cents(result.final_equity) == cents(book.balance) == cents(book.equity)

    async def test_same_swaps_and_commissions(self) -> None:
        result = run_backtest()
        desk, _ = await run_paper()
        book = desk.book(TENANT).account
        charges = [c for c in book.swap_charges if isinstance(c, PaperSwapCharge)]
        # Wednesday's session (ending Thu 00:00) books 3 nights; Thursday's 1 (a credit).
        assert [(c.side, c.nights, c.amount) for c in charges] == [
            ("buy", 3, -2.25),
            ("sell", 1, 0.25),
        ]
        assert cents(sum(t.swap for t in result.trades)) == cents(book.swaps) == -2.0
        # Ten fills of 0.1 lot (the reversal is one 0.2-lot order in the paper account).
        assert cents(sum(t.commission for t in result.trades)) == cents(book.commissions) == 7.0


class TestStopOutAgrees:
    async def test_the_same_stop_out_price_reason_and_equity(self) -> None:
        result = run_backtest(STOPPED_OUT)
        desk, equity = await run_paper(STOPPED_OUT)
        book = desk.book(TENANT).account
        [simulated] = result.trades
        [traded] = book.trades
        assert (simulated.exit_reason, traded.exit_reason) == ("stop_out", "stop_out")
        assert (simulated.entry_ts, simulated.exit_ts) == (
            bar_ts(traded.entry_ts),
            bar_ts(traded.exit_ts),
        )
        assert traded.exit_ts == tick_times(STOPPED_OUT, 2)[0]  # the gap's own tick
        assert round(simulated.entry_price, 5) == traded.entry_price == 1.10031
        assert round(simulated.exit_price, 5) == traded.exit_price == 1.07499
        assert cents(simulated.pnl) == cents(traded.pnl - traded.commission) == -6_365.0
        assert [cents(value) for value in result.equity] == [cents(value) for value in equity]
        assert cents(result.final_equity) == cents(book.balance) == 3_635.0
        assert book.positions == {}
