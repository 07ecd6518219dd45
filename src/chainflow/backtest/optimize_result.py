"""What a parameter search produces: trials, their ranking, the heatmap and the summary.

A trial is one evaluated combination; the objective's direction (``MINIMIZED`` metrics
are minimized, every other one maximized) ranks feasible trials by score, then infeasible
ones in trial order. ``kept_trials`` is what a checkpoint needs to rebuild any later
ranking's top: a trial outside the top ``keep`` of the trials done so far can never enter
the top ``keep`` of a superset of them.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chainflow.backtest.search_space import ParamValue

MINIMIZED = frozenset(
    {"max_drawdown_pct", "max_drawdown_duration_bars", "volatility_pct", "costs_paid", "turnover"}
)


@dataclass(frozen=True, slots=True)
class Constraints:
    """What a combination must achieve to count: a minimum number of closed trades and,
    optionally, a maximum drawdown (percent, compared by magnitude)."""

    min_trades: int = 0
    max_drawdown_pct: float | None = None

    def violation(self, metrics: Mapping[str, float], trades: int) -> str | None:
        """Return why ``metrics`` break a constraint, or ``None``."""
        if trades < self.min_trades:
            return f"expected at least {self.min_trades} trades; received {trades}"
        drawdown = metrics.get("max_drawdown_pct")
        if self.max_drawdown_pct is not None and drawdown is not None:
            if abs(drawdown) > abs(self.max_drawdown_pct):
                return (
                    f"expected a max drawdown within {abs(self.max_drawdown_pct)}%; "
                    f"received {abs(drawdown):.4g}%"
                )
        return None


@dataclass(frozen=True, slots=True)
class Trial:
    """One evaluated combination: its parameters, metrics and score (``None``: infeasible)."""

    index: int
    params: dict[str, Any]
    metrics: dict[str, float]
    score: float | None
    reason: str | None = None

    @property
    def is_feasible(self) -> bool:
        """Return whether the trial met the constraints and scored a finite objective."""
        return self.score is not None

    def to_json(self) -> dict[str, Any]:
        """Return the trial as JSON-safe data (non-finite metrics as ``None``)."""
        return {
            "index": self.index,
            "params": self.params,
            "score": self.score,
            "feasible": self.is_feasible,
            "reason": self.reason,
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
        }


@dataclass(frozen=True, slots=True)
class Heatmap:
    """The objective over two parameters: ``z[i][j]`` at ``y_values[i]``, ``x_values[j]``
    (the best over any other parameters; ``None`` where no feasible trial ran)."""

    x: str
    y: str
    x_values: list[Any]
    y_values: list[Any]
    z: list[list[float | None]]

    def to_json(self) -> dict[str, Any]:
        """Return the matrix as JSON-safe data."""
        return {
            "x": self.x,
            "y": self.y,
            "x_values": self.x_values,
            "y_values": self.y_values,
            "z": self.z,
        }


@dataclass(slots=True)
class OptimizationResult:
    """All trials, best first (feasible ones by score, then infeasible in trial order)."""

    method: str
    objective: str
    direction: str
    space: dict[str, Any]
    trials: list[Trial]
    elapsed_s: float
    workers: int
    seed: int
    strategy: str = ""
    constraints: Constraints = field(default_factory=Constraints)

    @property
    def best(self) -> Trial | None:
        """Return the best feasible trial, or ``None`` when none is feasible."""
        return self.trials[0] if self.trials and self.trials[0].is_feasible else None

    def heatmap(self, x: str | None = None, y: str | None = None) -> Heatmap | None:
        """Return the score matrix over parameters ``x`` and ``y`` (default: the first two
        searched), or ``None`` when fewer than two parameters were searched."""
        names = list(self.space)
        if x is None or y is None:
            if len(names) < 2:
                return None
            x, y = names[0], names[1]
        x_values = sorted({t.params[x] for t in self.trials}, key=_sort_key)
        y_values = sorted({t.params[y] for t in self.trials}, key=_sort_key)
        sign = -1.0 if self.direction == "minimize" else 1.0
        z: list[list[float | None]] = [[None] * len(x_values) for _ in y_values]
        for trial in self.trials:
            if trial.score is None:
                continue
            i, j = y_values.index(trial.params[y]), x_values.index(trial.params[x])
            current = z[i][j]
            if current is None or sign * trial.score > sign * current:
                z[i][j] = trial.score
        return Heatmap(x=x, y=y, x_values=x_values, y_values=y_values, z=z)

    def to_json(self, top: int | None = 20) -> dict[str, Any]:
        """Return the summary, the best trial and the ``top`` trials (all when ``None``)."""
        best = self.best
        heatmap = self.heatmap() if len(self.space) == 2 else None
        return {
            "strategy": self.strategy,
            "method": self.method,
            "objective": self.objective,
            "direction": self.direction,
            "space": self.space,
            "seed": self.seed,
            "workers": self.workers,
            "trials": len(self.trials),
            "feasible": sum(t.is_feasible for t in self.trials),
            "constraints": {
                "min_trades": self.constraints.min_trades,
                "max_drawdown_pct": self.constraints.max_drawdown_pct,
            },
            "best": best.to_json() if best else None,
            "results": [t.to_json() for t in (self.trials if top is None else self.trials[:top])],
            "heatmap": heatmap.to_json() if heatmap else None,
            "elapsed_s": round(self.elapsed_s, 6),
        }


def objective_direction(objective: str) -> str:
    """Return ``"minimize"`` for drawdown-like metrics, else ``"maximize"``."""
    return "minimize" if objective in MINIMIZED else "maximize"


def rank_trials(trials: Sequence[Trial], direction: str) -> list[Trial]:
    """Return ``trials`` best first: feasible by score, then infeasible in trial order."""
    return sorted(trials, key=_rank_key(direction))


def kept_trials(trials: Sequence[Trial], direction: str, keep: int) -> list[Trial]:
    """Return the trials that can still appear in the top ``keep`` of a ranking of any
    superset of ``trials``: the ``keep`` best feasible ones and the first ``keep``
    infeasible ones."""
    feasible = heapq.nsmallest(keep, (t for t in trials if t.is_feasible), key=_rank_key(direction))
    infeasible = [t for t in trials if not t.is_feasible][:keep]
    return feasible + infeasible


def _rank_key(direction: str) -> Any:
    sign = -1.0 if direction == "minimize" else 1.0

    def key(trial: Trial) -> tuple[bool, float, int]:
        return (trial.score is None, -sign * (trial.score or 0.0), trial.index)

    return key


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _sort_key(value: ParamValue) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))
