"""The walk-forward's records: windows, per-window results, the whole analysis, and the
checkpoint of a walk-forward stopped between windows (``windows_checkpoint``: each finished
window whole, its out-of-sample curve included, so that a resume stitches the same curve).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest.checkpoint import (
    finite_or_none,
    float_or_nan,
    floats_from_json,
    floats_to_json,
)
from chainflow.backtest.errors import BacktestCheckpointMismatchError
from chainflow.core.market import BarSeries


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step as bar indices (half-open)."""

    index: int
    is_start: int
    is_stop: int
    oos_start: int
    oos_stop: int


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A model trained for one window: ``build()`` returns a fresh strategy trading it (one
    per backtest, so no decision state leaks from in-sample into out-of-sample); its rows
    used feature bars from ``train_from_ts`` to ``train_to_ts`` and labels up to the bar
    opened at ``label_end_ts``."""

    build: Callable[[], Any]
    train_from_ts: int
    train_to_ts: int
    label_end_ts: int
    rows: int = 0


class ModelTrainer(Protocol):
    """Trains a model on in-sample bars and returns the strategy that trades with it."""

    def __call__(self, bars: BarSeries, *, seed: int) -> TrainedModel: ...


@dataclass(slots=True)
class WindowResult:
    """One window: the chosen parameters, in-sample and out-of-sample figures."""

    window: Window
    is_from_ts: int
    is_to_ts: int
    oos_from_ts: int
    oos_to_ts: int
    params: dict[str, Any]
    is_metrics: dict[str, float]
    oos_metrics: dict[str, float]
    oos_trades: int
    is_annual_return: float
    oos_annual_return: float
    efficiency: float | None
    oos_equity: NDArray[np.float64]
    oos_ts: NDArray[np.int64]
    trials: int = 0
    feasible: int = 0
    training: TrainedModel | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the window as JSON-safe data (without its curve)."""
        out = {
            "index": self.window.index,
            "is_start": self.window.is_start,
            "is_stop": self.window.is_stop,
            "oos_start": self.window.oos_start,
            "oos_stop": self.window.oos_stop,
            "is_from_ts": self.is_from_ts,
            "is_to_ts": self.is_to_ts,
            "oos_from_ts": self.oos_from_ts,
            "oos_to_ts": self.oos_to_ts,
            "params": self.params,
            "trials": self.trials,
            "feasible": self.feasible,
            "oos_trades": self.oos_trades,
            "is_return_pct": _json(self.is_metrics.get("return_pct", math.nan)),
            "oos_return_pct": _json(self.oos_metrics.get("return_pct", math.nan)),
            "is_sharpe": _json(self.is_metrics.get("sharpe", math.nan)),
            "oos_sharpe": _json(self.oos_metrics.get("sharpe", math.nan)),
            "is_annual_return": _json(self.is_annual_return),
            "oos_annual_return": _json(self.oos_annual_return),
            "efficiency": _json(self.efficiency),
        }
        if self.training is not None:
            out["training"] = {
                "train_from_ts": self.training.train_from_ts,
                "train_to_ts": self.training.train_to_ts,
                "label_end_ts": self.training.label_end_ts,
                "rows": self.training.rows,
            }
        return out


@dataclass(slots=True)
class WalkForwardResult:
    """All windows, the stitched out-of-sample curve and the summary figures."""

    windows: list[WindowResult]
    equity: NDArray[np.float64]
    ts: NDArray[np.int64]
    cash: float
    bars_per_year: float
    efficiency: float | None
    oos_annual_return: float
    is_annual_return_mean: float
    stability: dict[str, dict[str, Any]]
    anchored: bool
    objective: str
    method: str
    elapsed_s: float
    strategy: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    oos_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def final_equity(self) -> float:
        """Return the stitched curve's last equity (the cash without windows)."""
        return float(self.equity[-1]) if len(self.equity) else self.cash

    def to_json(self, include_curves: bool = False) -> dict[str, Any]:
        """Return the summary and the per-window table (the curve with ``include_curves``)."""
        trades = sum(w.oos_trades for w in self.windows)
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "method": self.method,
            "objective": self.objective,
            "anchored": self.anchored,
            **self.settings,
            "windows": len(self.windows),
            "oos_trades": trades,
            "final_equity": self.final_equity,
            **{k: _json(v) for k, v in self.oos_metrics.items()},
            "oos_annual_return": _json(self.oos_annual_return),
            "is_annual_return_mean": _json(self.is_annual_return_mean),
            "efficiency": _json(self.efficiency),
            "bars_per_year": self.bars_per_year,
            "stability": self.stability,
            "window_results": [w.to_json() for w in self.windows],
            "elapsed_s": round(self.elapsed_s, 6),
        }
        if include_curves:
            out["ts"] = self.ts.tolist()
            out["equity_curve"] = self.equity.tolist()
        return out


def windows_checkpoint(windows: Sequence[WindowResult], *, total: int) -> dict[str, Any]:
    """Return the checkpoint of a walk-forward whose windows ``0 .. len(windows)-1`` are done."""
    return {
        "unit": "windows",
        "done": len(windows),
        "total": total,
        "windows": [window_to_json(w) for w in windows],
    }


def windows_from_checkpoint(data: Mapping[str, Any], *, total: int) -> list[WindowResult]:
    """Return the finished windows of a ``windows_checkpoint`` of ``total`` windows."""
    if data.get("unit") != "windows" or data.get("total") != total:
        raise BacktestCheckpointMismatchError(
            f"expected a checkpoint of a walk-forward of {total} windows; received one of "
            f"{data.get('total')} {data.get('unit')}"
        )
    return [window_from_json(w) for w in data["windows"]]


def window_to_json(result: WindowResult) -> dict[str, Any]:
    """Return one finished window as checkpoint JSON."""
    w = result.window
    training = result.training
    return {
        "window": [w.index, w.is_start, w.is_stop, w.oos_start, w.oos_stop],
        "ts": [result.is_from_ts, result.is_to_ts, result.oos_from_ts, result.oos_to_ts],
        "params": result.params,
        "is_metrics": {k: finite_or_none(v) for k, v in result.is_metrics.items()},
        "oos_metrics": {k: finite_or_none(v) for k, v in result.oos_metrics.items()},
        "oos_trades": result.oos_trades,
        "is_annual_return": finite_or_none(result.is_annual_return),
        "oos_annual_return": finite_or_none(result.oos_annual_return),
        "efficiency": finite_or_none(result.efficiency),
        "oos_equity": floats_to_json(result.oos_equity),
        "oos_ts": [int(t) for t in result.oos_ts],
        "trials": result.trials,
        "feasible": result.feasible,
        "training": None
        if training is None
        else [training.train_from_ts, training.train_to_ts, training.label_end_ts, training.rows],
    }


def window_from_json(data: Mapping[str, Any]) -> WindowResult:
    """Return the window ``window_to_json`` wrote (its model, if any, is not kept)."""
    is_from, is_to, oos_from, oos_to = (int(v) for v in data["ts"])
    training = None
    if data["training"] is not None:
        train_from, train_to, label_end, rows = (int(v) for v in data["training"])
        training = TrainedModel(_model_not_kept, train_from, train_to, label_end, rows)
    return WindowResult(
        window=Window(*(int(v) for v in data["window"])),
        is_from_ts=is_from,
        is_to_ts=is_to,
        oos_from_ts=oos_from,
        oos_to_ts=oos_to,
        params=dict(data["params"]),
        is_metrics={k: float_or_nan(v) for k, v in data["is_metrics"].items()},
        oos_metrics={k: float_or_nan(v) for k, v in data["oos_metrics"].items()},
        oos_trades=int(data["oos_trades"]),
        is_annual_return=float_or_nan(data["is_annual_return"]),
        oos_annual_return=float_or_nan(data["oos_annual_return"]),
        efficiency=data["efficiency"],
        oos_equity=floats_from_json(data["oos_equity"]),
        oos_ts=np.array(data["oos_ts"], dtype=np.int64),
        trials=int(data["trials"]),
        feasible=int(data["feasible"]),
        training=training,
    )


def _model_not_kept() -> Any:
    raise RuntimeError("a window read back from a checkpoint does not keep its trained model")


def _json(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
