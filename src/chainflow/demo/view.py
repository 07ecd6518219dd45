"""What ``chainflow demo`` shows: the live signal table, the paper panel and the summary.

Pure rendering of a ``DemoState``; the demo's replay loop updates the state and a Rich
``Live`` redraws it a few times a second (on a pipe or in CI, Rich prints the last frame
once instead of animating). The paper panel renders the answer of
``GET /api/v1/trading/paper`` (account figures, open positions, the last trades); the
summary adds ``GET /api/v1/trading/attribution`` (P&L and hit rate, by symbol).
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
MONEY_FIELDS = frozenset({"equity", "balance", "unrealized_pnl", "realized_pnl", "swaps"})
SIGNED_FIELDS = frozenset({"unrealized_pnl", "realized_pnl", "swaps"})
PANEL_ROWS = 5
"""How many open positions and recent trades the paper panel lists."""


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
    attribution: dict[str, Any] | None = None
    elapsed_s: float = 0.0
    offset_ms: int = 0  # the market's shift (whole weeks): ts - offset_ms is the sample's
    decisions: list[tuple[Any, ...]] = field(default_factory=list)  # one per signal frame
    issued: list[dict[str, Any]] = field(default_factory=list)  # bar-close signals, oldest first
    unsettled: int = 0  # ticks or bar closes the replay stopped waiting for

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
        self.decisions.append(decision_of(frame))
        self.by_action[action] += 1
        if client_latency_ms is not None:
            self.client_latency_ms.append(client_latency_ms)
        server = frame.get("latency_ms")
        if isinstance(server, int | float):
            self.server_latency_ms.append(float(server))


def decision_of(frame: dict[str, Any]) -> tuple[Any, ...]:
    """Return what a signal frame decided (no timing): the figures two runs must share."""
    return tuple(
        frame.get(name)
        for name in (
            "seq",
            "symbol",
            "action",
            "confidence",
            "size",
            "stop_loss",
            "take_profit",
            "model",
        )
    ) + (tuple(frame.get("reasons") or ()),)


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
        title=f"ChainFlow demo: live signals (model {model})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        expand=False,
    )
    for name in (
        "symbol",
        "bid",
        "ask",
        "signal",
        "conf",
        "lots",
        "stop loss",
        "take profit",
        "server latency",
        "signals",
        "flips",
    ):
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
    """Return the paper account (``GET /api/v1/trading/paper``) as a panel.

    One line of account figures, then the open positions and the last trades (newest
    first), each up to ``PANEL_ROWS``; a tripped circuit breaker is named.
    """
    account = paper.get("account", paper)
    parts: list[RenderableType] = [Text(account_line(account))]
    if account.get("halted"):
        parts.append(Text(f"circuit breaker: {account['halted']}", style="bold red"))
    positions = [p for p in paper.get("positions") or [] if isinstance(p, dict)]
    if positions:
        table = _panel_table(
            "open positions", "symbol", "side", "lots", "entry", "stop loss", "take profit"
        )
        for position in positions[:PANEL_ROWS]:
            side = str(position.get("side", "-"))
            table.add_row(
                str(position.get("symbol", "-")),
                Text(side, style=ACTION_STYLES.get(side, "")),
                _number(position.get("lots"), 2),
                _price(position.get("entry_price")),
                _price(position.get("stop_loss")),
                _price(position.get("take_profit")),
            )
        parts.append(table)
    trades = [t for t in paper.get("trades") or [] if isinstance(t, dict)]
    if trades:
        table = _panel_table(
            "last trades", "symbol", "side", "lots", "entry", "exit", "P&L", "exit by"
        )
        for trade in list(reversed(trades))[:PANEL_ROWS]:
            side, pnl = str(trade.get("side", "-")), trade.get("pnl")
            table.add_row(
                str(trade.get("symbol", "-")),
                Text(side, style=ACTION_STYLES.get(side, "")),
                _number(trade.get("lots"), 2),
                _price(trade.get("entry_price")),
                _price(trade.get("exit_price")),
                Text(_money(pnl), style=_pnl_style(pnl)),
                str(trade.get("exit_reason", "-")).replace("_", " "),
            )
        parts.append(table)
    return Panel(Group(*parts), title="paper account", title_align="left", expand=False)


def account_line(account: dict[str, Any]) -> str:
    """Return the paper account's figures on one line, e.g. ``equity 10,034.96 · ...``."""
    figures = []
    for key, label in PAPER_FIELDS:
        if key in account:
            value = account[key]
            text = _money(value, signed=key in SIGNED_FIELDS) if key in MONEY_FIELDS else value
            figures.append(f"{label} {text}")
    return " · ".join(figures) or "no figures yet"


def attribution_lines(attribution: dict[str, Any]) -> list[str]:
    """Return the summary lines of ``GET /api/v1/trading/attribution``."""
    total = attribution.get("total") or {}
    closed = total.get("closed_trades", 0)
    hit_rate = total.get("hit_rate")
    hits = (
        f"{hit_rate:.0%} of {closed} closed trades"
        if isinstance(hit_rate, float)
        else ("no closed trades")
    )
    lines = [
        f"attribution: P&L {_money(total.get('pnl'), signed=True)} (realized "
        f"{_money(total.get('realized'), signed=True)}, open "
        f"{_money(total.get('unrealized'), signed=True)}) + swaps "
        f"{_money(attribution.get('swaps'), signed=True)} = account P&L "
        f"{_money(attribution.get('account_pnl'), signed=True)}; hit rate {hits}"
    ]
    by_symbol = [
        f"{row.get('key')} {_money(row.get('pnl'), signed=True)}"
        + (f" ({row['hit_rate']:.0%} hits)" if isinstance(row.get("hit_rate"), float) else "")
        for row in attribution.get("by_symbol") or []
    ]
    if by_symbol:
        lines.append(f"  by symbol: {', '.join(by_symbol)}")
    return lines


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
    if state.unsettled:
        lines.append(
            f"note: the replay stopped waiting for {state.unsettled} ticks or bar closes; "
            "this run's signals and trades may differ from another's"
        )
    if state.paper is not None:
        account = state.paper.get("account", state.paper)
        lines.append(f"paper account: {account_line(account)}")
    if state.attribution is not None:
        lines.extend(attribution_lines(state.attribution))
    return lines


def _price(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) else "-"


def _number(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def _money(value: Any, *, signed: bool = False) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:+,.2f}" if signed and value else f"{value:,.2f}"


def _pnl_style(value: Any) -> str:
    if not isinstance(value, int | float) or value == 0:
        return ""
    return "green" if value > 0 else "red"


def _panel_table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, expand=False)
    for name in columns:
        table.add_column(name, justify="left" if name in ("symbol", "side", "exit by") else "right")
    return table
