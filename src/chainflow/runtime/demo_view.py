"""What ``chainflow demo`` shows: the live signal table, the paper panel and the summary.

Pure rendering of a ``DemoState``; the demo's replay loop updates the state and a Rich
``Live`` redraws it a few times a second (on a pipe or in CI, Rich prints the last frame
once instead of animating).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

ACTION_STYLES = {"buy": "bold green", "sell": "bold red", "hold": "dim"}
PAPER_FIELDS = (
    ("equity", "equity"),
    ("balance", "balance"),
    ("unrealized_pnl", "open P&L"),
    ("realized_pnl", "realized P&L"),
    ("open_positions", "open positions"),
    ("trades_count", "trades"),
)


@dataclass(slots=True)
class SymbolState:
    """One symbol's row: its last quote, its last signal and how many it got."""

    bid: float | None = None
    ask: float | None = None
    ticks: int = 0
    signals: int = 0
    changes: int = 0
    last: dict[str, Any] | None = None


@dataclass(slots=True)
class DemoState:
    """Everything the view shows, updated by the replay as frames go out and come in."""

    total_ticks: int
    symbols: dict[str, SymbolState]
    sent: int = 0
    acked: int = 0
    signals: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    client_latency_ms: list[float] = field(default_factory=list)
    server_latency_ms: list[float] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    paper: dict[str, Any] | None = None
    elapsed_s: float = 0.0

    def record_sent(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            row = self.symbols.setdefault(str(item["symbol"]), SymbolState())
            row.bid, row.ask = item["bid"], item["ask"]
            row.ticks += 1
        self.sent += len(items)

    def record_signal(self, frame: dict[str, Any], client_latency_ms: float | None) -> None:
        row = self.symbols.setdefault(str(frame.get("symbol")), SymbolState())
        action = str(frame.get("action"))
        if row.last is not None and row.last.get("action") != action:
            row.changes += 1
        row.last, row.signals = frame, row.signals + 1
        self.signals += 1
        self.by_action[action] += 1
        if client_latency_ms is not None:
            self.client_latency_ms.append(client_latency_ms)
        server = frame.get("latency_ms")
        if isinstance(server, int | float):
            self.server_latency_ms.append(float(server))


def percentile(values: list[float], q: float) -> float | None:
    """Return the nearest-rank ``q`` percentile (0-100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def render(state: DemoState) -> RenderableType:
    """Return the live view: the signal table, its footer and the paper panel if any."""
    model = next((str(r.last["model"]) for r in state.symbols.values() if r.last), "-")
    table = Table(
        title=f"ChainFlow demo: live signals (model {model})", title_justify="left",
        box=box.SIMPLE_HEAD, expand=False,
    )  # fmt: skip
    for name in ("symbol", "bid", "ask", "signal", "conf", "lots", "stop loss", "take profit",
                 "latency", "signals", "flips"):  # fmt: skip
        table.add_column(name, justify="left" if name in ("symbol", "signal") else "right")
    for symbol, row in state.symbols.items():
        last = row.last or {}
        action = str(last.get("action", "-"))
        table.add_row(
            symbol,
            _price(row.bid),
            _price(row.ask),
            Text(action, style=ACTION_STYLES.get(action, "")),
            _number(last.get("confidence"), 2),
            _number(last.get("size"), 2),
            _price(last.get("stop_loss")),
            _price(last.get("take_profit")),
            fmt_ms(last.get("latency_ms")),
            str(row.signals),
            str(row.changes),
        )
    parts: list[RenderableType] = [table, Text(footer(state))]
    if state.paper is not None:
        parts.append(paper_panel(state.paper))
    return Group(*parts)


def footer(state: DemoState) -> str:
    """Return the one-line totals under the table."""
    return (
        f"ticks {state.sent}/{state.total_ticks} sent, {state.acked} acked · "
        f"signals {state.signals} · client latency p50 "
        f"{fmt_ms(percentile(state.client_latency_ms, 50))} p99 "
        f"{fmt_ms(percentile(state.client_latency_ms, 99))} · {state.elapsed_s:.1f} s"
    )


def paper_panel(paper: dict[str, Any]) -> Panel:
    """Return the paper account (``GET /api/v1/trading/paper``) as a small panel."""
    account = paper.get("account", paper)
    lines = [
        f"{label}: {account[key]:,.2f}" if isinstance(account[key], float) else
        f"{label}: {account[key]}"
        for key, label in PAPER_FIELDS if key in account
    ]  # fmt: skip
    positions = paper.get("positions")
    if isinstance(positions, list):
        for position in positions[:5]:
            lines.append(
                f"  {position.get('symbol')} {position.get('side')} {position.get('lots')} "
                f"@ {position.get('avg_price', position.get('price'))}"
            )
    return Panel("\n".join(lines) or "no figures yet", title="paper account", expand=False)


def summary_lines(state: DemoState) -> list[str]:
    """Return the end-of-run summary (plain text, one fact a line)."""
    rejected = ", ".join(f"{k}={v}" for k, v in sorted(state.rejected.items())) or "none"
    actions = ", ".join(f"{k} {v}" for k, v in sorted(state.by_action.items())) or "none"
    rate = state.sent / state.elapsed_s if state.elapsed_s > 0 else 0.0
    client, server = state.client_latency_ms, state.server_latency_ms
    lines = [
        f"ticks: {state.sent} sent, {state.acked} acked, rejected {rejected}",
        f"signals: {state.signals} received ({actions})",
        f"client tick->signal latency: p50 {fmt_ms(percentile(client, 50))}, "
        f"p99 {fmt_ms(percentile(client, 99))}, max {fmt_ms(max(client, default=None))}",
        f"server latency_ms: p50 {fmt_ms(percentile(server, 50))}, "
        f"p99 {fmt_ms(percentile(server, 99))}",
        f"time: {state.elapsed_s:.1f} s ({rate:,.0f} ticks/s)",
    ]
    if state.paper is not None:
        account = state.paper.get("account", state.paper)
        figures = ", ".join(
            f"{label} {account[key]}" for key, label in PAPER_FIELDS if key in account
        )
        lines.append(f"paper account: {figures}")
    return lines


def _price(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) else "-"


def _number(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"
