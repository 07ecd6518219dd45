"""Self-contained HTML reports: one file that opens offline (Plotly's JavaScript inlined).

- ``backtest_report``: metrics table (figures on too small a sample marked, the notes
  under it), equity and drawdown curves, price with the trades' entries and exits marked,
  and the trade log;
- ``optimization_report``: the best trials, and the objective heatmap for two parameters;
- ``walkforward_report``: the stitched out-of-sample equity, the per-window table and the
  parameter stability.

Long series are thinned to at most ``MAX_POINTS`` points for the charts (every k-th bar,
always keeping the last); tables show at most ``MAX_ROWS`` rows.

Plotly is the ``reports`` extra: without it each report (and ``check_reports``, which the
commands call before computing anything) raises a ``MissingExtraError`` naming
``pip install 'chainflow[reports]'``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from chainflow.backtest.metrics import small_sample_metrics
from chainflow.core.optional import import_optional, require_installed

if TYPE_CHECKING:
    from chainflow.backtest.optimize import OptimizationResult
    from chainflow.backtest.types import BacktestResult
    from chainflow.backtest.walkforward import WalkForwardResult
    from chainflow.core.market import BarSeries

MAX_POINTS = 5_000
MAX_ROWS = 1_000
REPORTS_PURPOSE = "an HTML report (--report)"
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:right}
th{background:#f6f8fa}td.l,th.l{text-align:left}.note{color:#57606a;font-size:.85rem}
"""


def check_reports() -> None:
    """Raise ``MissingExtraError`` unless Plotly (the ``reports`` extra) is installed."""
    require_installed("plotly", extra="reports", purpose=REPORTS_PURPOSE)


def backtest_report(
    result: BacktestResult, path: Path, *, bars: BarSeries | None = None, title: str | None = None
) -> Path:
    """Write the report of one backtest to ``path`` and return it."""
    page = _Page(title or f"Backtest: {result.strategy} {_params(result.params)}")
    small = small_sample_metrics(result.metrics)
    page.table(
        "Metrics",
        ["metric", "value"],
        [[k, _num(v) + (" (small sample)" if k in small else "")] for k, v in _metrics(result)],
    )
    for note in result.notes:
        page.note(note)
    page.figure("Equity", _equity_figure(result.ts, result.equity, "equity"))
    page.figure("Drawdown", _drawdown_figure(result.ts, result.equity))
    if bars is not None and len(bars):
        page.figure("Price and trades", _trades_figure(result, bars))
    page.table(
        "Trades",
        ["#", "side", "size", "entry", "entry price", "exit", "exit price", "pnl", "reason"],
        [
            [
                i + 1,
                t.side,
                _num(t.size),
                _time(t.entry_ts),
                _num(t.entry_price),
                _time(t.exit_ts),
                _num(t.exit_price),
                _num(t.pnl),
                t.exit_reason,
            ]
            for i, t in enumerate(result.trades)
        ],
    )
    return page.write(path)


def optimization_report(
    result: OptimizationResult, path: Path, *, best: BacktestResult | None = None
) -> Path:
    """Write the report of an optimization (and of its best backtest, if given)."""
    page = _Page(f"Optimization: {result.strategy} by {result.objective} ({result.method})")
    feasible = sum(t.is_feasible for t in result.trials)
    page.note(
        f"{len(result.trials)} trials, {feasible} feasible, {result.workers} workers, "
        f"seed {result.seed}, {result.elapsed_s:.2f} s; constraints: min trades "
        f"{result.constraints.min_trades}, max drawdown "
        f"{result.constraints.max_drawdown_pct or '-'}%"
    )
    heatmap = result.heatmap()
    if heatmap is not None:
        go = _plotly("plotly.graph_objects")
        z = [[math.nan if v is None else v for v in row] for row in heatmap.z]
        figure = go.Figure(
            go.Heatmap(
                z=z,
                x=[str(v) for v in heatmap.x_values],
                y=[str(v) for v in heatmap.y_values],
                colorscale="RdYlGn",
                colorbar={"title": result.objective},
            )
        )
        figure.update_layout(xaxis_title=heatmap.x, yaxis_title=heatmap.y, height=520)
        page.figure(f"{result.objective} by {heatmap.x} and {heatmap.y}", figure)
    names = list(result.space)
    keys = ["trades", "return_pct", "sharpe", "max_drawdown_pct", "profit_factor"]
    page.table(
        "Trials (best first)",
        ["rank", *names, result.objective, *keys, "note"],
        [
            [
                rank + 1,
                *(t.params.get(n) for n in names),
                _num(t.score),
                *(_num(t.metrics.get(k)) for k in keys),
                t.reason or "",
            ]
            for rank, t in enumerate(result.trials)
        ],
    )
    if best is not None:
        page.figure("Equity of the best parameters", _equity_figure(best.ts, best.equity, "equity"))
    return page.write(path)


def walkforward_report(result: WalkForwardResult, path: Path) -> Path:
    """Write the report of a walk-forward analysis to ``path`` and return it."""
    kind = "anchored" if result.anchored else "rolling"
    page = _Page(f"Walk-forward ({kind}): {result.strategy} by {result.objective}")
    summary = result.to_json()
    rows = [
        [key, _num(summary.get(key))]
        for key in (
            "windows",
            "oos_trades",
            "final_equity",
            "return_pct",
            "max_drawdown_pct",
            "oos_annual_return",
            "is_annual_return_mean",
            "efficiency",
            "bars_per_year",
            "elapsed_s",
        )
    ]
    page.table("Summary", ["figure", "value"], rows)
    page.figure(
        "Stitched out-of-sample equity", _equity_figure(result.ts, result.equity, "OOS equity")
    )
    page.figure("Drawdown (stitched)", _drawdown_figure(result.ts, result.equity))
    page.table(
        "Windows",
        [
            "#",
            "in-sample",
            "out-of-sample",
            "params",
            "IS return %",
            "OOS return %",
            "OOS trades",
            "efficiency",
        ],
        [
            [
                w.window.index + 1,
                f"{_time(w.is_from_ts)} → {_time(w.is_to_ts)}",
                f"{_time(w.oos_from_ts)} → {_time(w.oos_to_ts)}",
                _params(w.params),
                _num(w.is_metrics.get("return_pct")),
                _num(w.oos_metrics.get("return_pct")),
                w.oos_trades,
                _num(w.efficiency),
            ]
            for w in result.windows
        ],
    )
    page.table(
        "Parameter stability",
        ["parameter", "values per window", "mode", "mode share", "cv"],
        [
            [
                name,
                ", ".join(str(v) for v in s["values"]),
                s["mode"],
                _num(s["mode_share"]),
                _num(s.get("cv")),
            ]
            for name, s in result.stability.items()
        ],
    )
    return page.write(path)


# --- building blocks -------------------------------------------------------------------------


class _Page:
    def __init__(self, title: str) -> None:
        check_reports()  # before any figure: a page without its charts is not written
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]
        self.has_plotly = False

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def figure(self, heading: str, figure: Any) -> None:
        pio = _plotly("plotly.io")
        figure.update_layout(margin={"l": 50, "r": 20, "t": 30, "b": 40}, template="plotly_white")
        self.parts.append(f"<h2>{html.escape(heading)}</h2>")
        self.parts.append(
            pio.to_html(figure, include_plotlyjs=not self.has_plotly, full_html=False)
        )
        self.has_plotly = True

    def table(self, heading: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        listed = list(rows)
        cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = [
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in listed[:MAX_ROWS]
        ]
        self.parts.append(f"<h2>{html.escape(heading)}</h2>")
        self.parts.append(
            f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )
        if len(listed) > MAX_ROWS:
            self.note(f"showing the first {MAX_ROWS} of {len(listed)} rows")

    def write(self, path: Path) -> Path:
        document = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
            f"<body>{''.join(self.parts)}</body></html>"
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, encoding="utf-8")
        return path


def _plotly(module: str) -> Any:
    return import_optional(module, extra="reports", purpose=REPORTS_PURPOSE, library="plotly")


def _thin(n: int) -> NDArray[np.int64]:
    if n <= MAX_POINTS:
        return np.arange(n, dtype=np.int64)
    picked = np.arange(0, n, math.ceil(n / MAX_POINTS), dtype=np.int64)
    return picked if picked[-1] == n - 1 else np.append(picked, n - 1)


def _dates(ts: NDArray[np.int64]) -> NDArray[Any]:
    return np.asarray(ts, dtype="datetime64[ms]")


def _equity_figure(ts: NDArray[np.int64], equity: NDArray[np.float64], name: str) -> Any:
    go = _plotly("plotly.graph_objects")
    keep = _thin(len(equity))
    figure = go.Figure(
        go.Scatter(x=_dates(ts[keep]), y=np.asarray(equity)[keep], name=name, mode="lines")
    )
    figure.update_layout(height=360, yaxis_title="equity")
    return figure


def _drawdown_figure(ts: NDArray[np.int64], equity: NDArray[np.float64]) -> Any:
    go = _plotly("plotly.graph_objects")
    values = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(values) if len(values) else values
    drawdown = (values / np.where(peak > 0, peak, 1.0) - 1.0) * 100.0
    keep = _thin(len(values))
    figure = go.Figure(
        go.Scatter(
            x=_dates(ts[keep]),
            y=drawdown[keep],
            fill="tozeroy",
            mode="lines",
            line={"color": "#cf222e"},
            name="drawdown %",
        )
    )
    figure.update_layout(height=260, yaxis_title="drawdown %")
    return figure


def _trades_figure(result: BacktestResult, bars: BarSeries) -> Any:
    go = _plotly("plotly.graph_objects")
    keep = _thin(len(bars))
    figure = go.Figure(
        go.Scatter(
            x=_dates(bars.ts[keep]),
            y=bars.close[keep],
            mode="lines",
            name="close",
            line={"color": "#57606a", "width": 1},
        )
    )
    trades = result.trades[:MAX_POINTS]
    for side, color, symbol in (
        ("long", "#1a7f37", "triangle-up"),
        ("short", "#cf222e", "triangle-down"),
    ):
        chosen = [t for t in trades if t.side == side]
        if not chosen:
            continue
        figure.add_trace(
            go.Scatter(
                x=_dates(np.array([t.entry_ts for t in chosen])),
                y=[t.entry_price for t in chosen],
                mode="markers",
                name=f"{side} entry",
                marker={"symbol": symbol, "color": color, "size": 9},
            )
        )
        figure.add_trace(
            go.Scatter(
                x=_dates(np.array([t.exit_ts for t in chosen])),
                y=[t.exit_price for t in chosen],
                mode="markers",
                name=f"{side} exit",
                marker={"symbol": "x", "color": color, "size": 8},
            )
        )
    figure.update_layout(height=420, yaxis_title="price")
    return figure


def _metrics(result: BacktestResult) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [("trades", len(result.trades))]
    rows += sorted(result.metrics.items())
    rows.append(("elapsed_s", result.elapsed_s))
    return rows


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    number = float(value)
    return f"{number:.6g}" if math.isfinite(number) else "-"


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M")
