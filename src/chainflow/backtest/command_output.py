"""What ``chainflow backtest``, ``optimize`` and ``walkforward`` print: Rich tables on
stdout, or one JSON object there with ``--json``; progress and errors on stderr.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from chainflow.backtest.metrics import small_sample_metrics
from chainflow.backtest.optimize import OptimizationResult
from chainflow.backtest.types import BacktestResult
from chainflow.backtest.walkforward import WalkForwardResult
from chainflow.core.errors import ChainflowError
from chainflow.core.market import BarSeries

SUMMARY_KEYS = (
    "trades",
    "final_equity",
    "return_pct",
    "sharpe",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "elapsed_s",
)


def source_of(bars: BarSeries) -> dict[str, Any]:
    """Return where the bars came from, as the JSON output reports it."""
    return {
        "symbol": bars.symbol,
        "timeframe": bars.timeframe,
        "bars": len(bars),
        "from_ts": int(bars.ts[0]),
        "to_ts": int(bars.ts[-1]),
    }


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn an expected failure into one error line on stderr and exit code 1 (130 on Ctrl-C)."""
    try:
        yield
    except ChainflowError as e:
        fail(e.message)
    except ValueError as e:  # a refused parameter or config: the message says which
        fail(str(e))
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


@contextmanager
def progress_reporter(show: bool, description: str) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a ``(done, total)`` callback drawing a progress bar on stderr (or ``None``)."""
    if not show:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True)
    ) as bar:
        task = bar.add_task(description, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield report


def print_backtest(result: BacktestResult, bars: BarSeries) -> None:
    """Print a backtest's metrics as a table, then its notes."""
    data = result.to_json()
    table = Table(title=f"{result.strategy} on {bars.symbol} {bars.timeframe} ({len(bars)} bars)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    small = small_sample_metrics(result.metrics)  # marked, and explained in the notes
    for key in (*SUMMARY_KEYS, *sorted(k for k in data if k not in SUMMARY_KEYS)):
        if key in data and not isinstance(data[key], dict | list):
            table.add_row(key, _cell(data[key]) + (" (small sample)" if key in small else ""))
    console().print(table)
    for note in result.notes:
        console().print(f"note: {note}", highlight=False)


def print_optimization(result: OptimizationResult, top: int) -> None:
    """Print the ``top`` trials of a parameter search as a table."""
    names = list(result.space)
    feasible = sum(t.is_feasible for t in result.trials)
    table = Table(
        title=f"{result.method} search of {result.strategy} by {result.objective}: "
        f"{len(result.trials)} trials, {feasible} feasible, {result.elapsed_s:.2f} s"
    )
    for column in ("rank", *names, result.objective, "trades", "return %", "max dd %", "note"):
        table.add_column(column, justify="right")
    for rank, trial in enumerate(result.trials[:top], start=1):
        m = trial.metrics
        table.add_row(
            str(rank),
            *(str(trial.params[n]) for n in names),
            _cell(trial.score),
            _cell(m.get("trades")),
            _cell(m.get("return_pct")),
            _cell(m.get("max_drawdown_pct")),
            trial.reason or "",
        )
    console().print(table)


def print_walkforward(result: WalkForwardResult) -> None:
    """Print a walk-forward's windows, its stitched out-of-sample result and parameter stability."""
    data = result.to_json()
    table = Table(title=f"walk-forward of {result.strategy}: {len(result.windows)} windows")
    for column in (
        "#",
        "IS bars",
        "OOS bars",
        "params",
        "IS ret %",
        "OOS ret %",
        "OOS trades",
        "WFE",
    ):
        table.add_column(column, justify="right")
    for w in data["window_results"]:
        params = ", ".join(f"{k}={v}" for k, v in w["params"].items())
        table.add_row(
            str(w["index"] + 1),
            f"{w['is_start']}:{w['is_stop']}",
            f"{w['oos_start']}:{w['oos_stop']}",
            params,
            _cell(w["is_return_pct"]),
            _cell(w["oos_return_pct"]),
            str(w["oos_trades"]),
            _cell(w["efficiency"]),
        )
    console().print(table)
    console().print(
        f"stitched OOS: final equity {_cell(data['final_equity'])}, return "
        f"{_cell(data['return_pct'])}%, max drawdown {_cell(data['max_drawdown_pct'])}%, "
        f"walk-forward efficiency {_cell(data['efficiency'])}",
        highlight=False,
    )
    for name, s in result.stability.items():
        console().print(
            f"{name}: mode {s['mode']} in {s['mode_share']:.0%} of windows, "
            f"cv {_cell(s.get('cv'))}",
            highlight=False,
        )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def echo_json(data: dict[str, Any]) -> None:
    """Print ``data`` as one JSON line on stdout (non-finite floats as ``null``)."""
    typer.echo(json.dumps(_json_safe(data), allow_nan=False))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # NumPy scalars
        return _json_safe(value.item())
    return value


def console() -> Console:
    """Return the stdout console the tables print to."""
    return Console(soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print ``message`` as an error on stderr and exit with code 1."""
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False
    )
    raise typer.Exit(code=1)
