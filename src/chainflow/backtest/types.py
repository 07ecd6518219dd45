"""The backtester's value types: configuration, closed trades and the result out.

Bars come in as ``chainflow.core.market.BarSeries``. Everything here is plain data (NumPy
arrays, floats, strings) so that configs and results pickle across the optimizer's process
pool. Conventions are in ``docs/backtesting.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest.errors import InvalidBacktestInputError

Side: TypeAlias = Literal["long", "short"]
Sizing: TypeAlias = Literal["all-in", "fixed", "risk"]
EngineName: TypeAlias = Literal["event", "vectorized"]
ExitReason: TypeAlias = Literal["signal", "stop_loss", "take_profit", "stop_out", "end"]

EXIT_REASONS: tuple[str, ...] = ("signal", "stop_loss", "take_profit", "stop_out", "end")


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """How the simulated account trades; see ``docs/backtesting.md`` for each convention.

    ``commission`` is a fraction of traded value per side, ``commission_per_lot`` money per
    lot (``lot_size`` units) per side. ``spread`` and ``slippage`` are prices. ``size`` is
    units for ``fixed`` and the fraction of equity at risk for ``risk`` (needs
    ``stop_loss``). ``swap_long``/``swap_short`` are money per unit per night credited to
    the account (negative = charged). ``stop_loss``/``take_profit`` are price distances.
    """

    cash: float = 10_000.0
    commission: float = 0.0
    commission_per_lot: float = 0.0
    spread: float | None = None
    slippage: float = 0.0
    sizing: Sizing = "all-in"
    size: float = 1.0
    long_only: bool = False
    leverage: float = 1.0
    stop_out_level: float = 0.5
    swap_long: float = 0.0
    swap_short: float = 0.0
    stop_loss: float | None = None
    take_profit: float | None = None
    risk_free_rate: float = 0.0
    periods_per_year: float | None = None
    lot_size: float = 1.0

    def __post_init__(self) -> None:
        positive = {"cash": self.cash, "leverage": self.leverage, "lot_size": self.lot_size}
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise InvalidBacktestInputError(f"expected {name} > 0; received {value!r}")
        non_negative = {
            "commission": self.commission,
            "commission_per_lot": self.commission_per_lot,
            "slippage": self.slippage,
            "stop_out_level": self.stop_out_level,
        }
        if self.spread is not None:
            non_negative["spread"] = self.spread
        for name, value in non_negative.items():
            if not (math.isfinite(value) and value >= 0):
                raise InvalidBacktestInputError(f"expected {name} >= 0; received {value!r}")
        if self.commission >= 1:
            raise InvalidBacktestInputError(
                f"expected commission < 1 (a fraction); received {self.commission}"
            )
        if self.sizing not in ("all-in", "fixed", "risk"):
            raise InvalidBacktestInputError(
                f"expected sizing 'all-in', 'fixed' or 'risk'; received {self.sizing!r}"
            )
        if not (math.isfinite(self.size) and self.size > 0):
            raise InvalidBacktestInputError(f"expected size > 0; received {self.size!r}")
        if self.sizing == "risk" and self.stop_loss is None:
            raise InvalidBacktestInputError("expected stop_loss with sizing 'risk'; received None")
        for name, distance in (("stop_loss", self.stop_loss), ("take_profit", self.take_profit)):
            if distance is not None and not (math.isfinite(distance) and distance > 0):
                raise InvalidBacktestInputError(
                    f"expected {name} > 0 (a price distance) or None; received {distance!r}"
                )
        for name, value in (
            ("swap_long", self.swap_long),
            ("swap_short", self.swap_short),
            ("risk_free_rate", self.risk_free_rate),
        ):
            if not math.isfinite(value):
                raise InvalidBacktestInputError(f"expected a finite {name}; received {value!r}")
        ppy = self.periods_per_year
        if ppy is not None and not (math.isfinite(ppy) and ppy > 0):
            raise InvalidBacktestInputError(
                f"expected periods_per_year > 0 or None; received {ppy!r}"
            )


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed trade. ``pnl`` is net: price P&L minus both commissions plus ``swap``.

    ``size`` is in units (positive); ``swap`` is the financing credited over the trade
    (negative = paid); ``commission`` is entry plus exit commission.
    """

    side: Side
    size: float
    entry_ts: int
    entry_price: float
    exit_ts: int
    exit_price: float
    pnl: float
    commission: float
    swap: float
    exit_reason: str
    entry_index: int
    exit_index: int

    def to_json(self) -> dict[str, Any]:
        """Return the trade as JSON-ready data."""
        return {
            "side": self.side,
            "size": self.size,
            "entry_ts": self.entry_ts,
            "entry_price": self.entry_price,
            "exit_ts": self.exit_ts,
            "exit_price": self.exit_price,
            "pnl": self.pnl,
            "commission": self.commission,
            "swap": self.swap,
            "exit_reason": self.exit_reason,
            "entry_index": self.entry_index,
            "exit_index": self.exit_index,
        }


def json_number(value: float) -> float | None:
    """Return ``value`` or ``None`` when it is NaN or infinite (JSON has neither)."""
    return value if math.isfinite(value) else None


@dataclass(slots=True)
class BacktestResult:
    """A finished backtest: closed trades, the equity per bar (marked on close) and metrics.

    ``equity[-1]`` is the final equity after the end-of-data close. ``elapsed_s`` is the
    simulation's own time (no data loading).
    """

    trades: list[Trade]
    equity: NDArray[np.float64]
    ts: NDArray[np.int64]
    metrics: dict[str, float]
    params: dict[str, Any]
    strategy: str
    engine: EngineName
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def final_equity(self) -> float:
        """Return the equity after the last bar (the starting cash when there are no bars)."""
        return float(self.metrics.get("final_equity", self.equity[-1] if len(self.equity) else 0))

    def to_json(self, include_curves: bool = False) -> dict[str, Any]:
        """Return the result as one JSON-ready object; NaN and infinity become ``null``.

        ``trades`` is the number of closed trades; with ``include_curves`` the object also
        carries ``trade_log``, ``equity_curve``, ``drawdown_curve`` and ``ts``.
        """
        data: dict[str, Any] = {key: json_number(float(v)) for key, v in self.metrics.items()}
        data.update(
            {
                "trades": len(self.trades),
                "elapsed_s": self.elapsed_s,
                "params": dict(self.params),
                "strategy": self.strategy,
                "engine": self.engine,
            }
        )
        if self.notes:
            data["notes"] = list(self.notes)
        if include_curves:
            peak = np.maximum.accumulate(self.equity) if len(self.equity) else self.equity
            drawdown = np.where(peak > 0, (self.equity / np.where(peak > 0, peak, 1) - 1), 0.0)
            data["trade_log"] = [trade.to_json() for trade in self.trades]
            data["ts"] = self.ts.tolist()
            data["equity_curve"] = self.equity.tolist()
            data["drawdown_curve"] = (drawdown * 100.0).tolist()
        return data
