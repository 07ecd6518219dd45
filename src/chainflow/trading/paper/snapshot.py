"""Read-only views of a ``PaperAccount``: its JSON snapshot (configuration plus every piece
of state) and its summary.

Floats go through ``json`` as ``repr`` strings, which round-trip exactly, so a restored
account continues tick for tick like the original. The configuration is the account's
keyword arguments: a key an older snapshot lacks (``stop_out_level``) takes its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

from chainflow.core.errors import InvalidInput
from chainflow.trading.account.functions import round_money
from chainflow.trading.paper.positions import (
    FillReason,
    OrderKind,
    OrderSide,
    PaperFill,
    PaperOrder,
    PaperOrderRejected,
    PaperPosition,
    PaperSwapCharge,
    PaperTrade,
)
from chainflow.trading.paper.reconcile import PaperReconciliation, PaperReconciliationUnmatched

if TYPE_CHECKING:
    from chainflow.trading.paper.account import PaperAccount

SNAPSHOT_VERSION = 1
Record = TypeVar("Record")


@dataclass(frozen=True, slots=True)
class PaperAccountSummary:
    """Account figures in the account currency, rounded to cents."""

    account_currency: str
    balance: float
    equity: float
    realized_pnl: float
    unrealized_pnl: float
    swaps: float
    commissions: float
    margin_used: float
    free_margin: float
    open_positions: int
    pending_orders: int
    trades_count: int
    max_drawdown: float
    max_drawdown_fraction: float


def summarize_account(account: PaperAccount) -> PaperAccountSummary:
    return PaperAccountSummary(
        account_currency=account.account_currency,
        balance=round_money(account.balance),
        equity=round_money(account.equity),
        realized_pnl=round_money(account.realized_pnl),
        unrealized_pnl=round_money(account.unrealized_pnl),
        swaps=round_money(account.swaps),
        commissions=round_money(account.commissions),
        margin_used=round_money(account.margin_used),
        free_margin=round_money(account.free_margin),
        open_positions=len(account.positions),
        pending_orders=len(account.pending_orders),
        trades_count=len(account.trades),
        max_drawdown=round_money(account.max_drawdown),
        max_drawdown_fraction=round(account.max_drawdown_fraction, 6),
    )


def dump_account_state(account: PaperAccount) -> dict[str, Any]:
    return {
        "version": SNAPSHOT_VERSION,
        "config": {
            "instruments": [asdict(instrument) for instrument in account.instruments.values()],
            "starting_balance": account.starting_balance,
            "leverage": account.leverage,
            "stop_out_level": account.stop_out_level,
            "account_currency": account.account_currency,
            "rollover_hour_utc": account.rollover_hour_utc,
            "equity_sample_ms": account.equity_sample_ms,
            "equity_curve_limit": account.equity_curve_limit,
        },
        "state": {
            "balance": account.balance,
            "realized_pnl": account.realized_pnl,
            "swaps": account.swaps,
            "commissions": account.commissions,
            "next_order_id": account.next_order_id,
            "last_ts": account.last_ts,
            "pending_orders": [
                [order_id, asdict(order)] for order_id, order in account.pending_orders.items()
            ],
            "positions": [asdict(position) for position in account.positions.values()],
            "quotes": {symbol: list(quote) for symbol, quote in account.quotes.items()},
            "quote_rates": dict(account.quote_rates),
            "trades": [asdict(trade) for trade in account.trades],
            "fills": [asdict(fill) for fill in account.fills],
            "swap_charges": [asdict(charge) for charge in account.swap_charges],
            "rejections": [asdict(rejection) for rejection in account.rejections],
            "reconciliations": [asdict(record) for record in account.reconciliations],
            "unmatched_executions": [asdict(record) for record in account.unmatched_executions],
            "reconciled_fill_indexes": sorted(account.reconciled_fill_indexes),
            "equity_curve": [list(point) for point in account.equity_curve],
            "peak_equity": account.peak_equity,
            "max_drawdown": account.max_drawdown,
            "max_drawdown_fraction": account.max_drawdown_fraction,
        },
    }


def load_account_state(account: PaperAccount, data: Mapping[str, Any]) -> None:
    """Overwrite the state of a freshly built ``account`` with a snapshot's state."""
    if data.get("version") != SNAPSHOT_VERSION:
        raise InvalidInput(
            f"expected snapshot version {SNAPSHOT_VERSION}; received {data.get('version')!r}"
        )
    state = data["state"]
    account.balance = state["balance"]
    account.realized_pnl = state["realized_pnl"]
    account.swaps = state["swaps"]
    account.commissions = state.get("commissions", 0.0)  # absent before commissions
    account.next_order_id = state["next_order_id"]
    account.last_ts = state["last_ts"]
    account.pending_orders = {
        order_id: load_record(PaperOrder, order) for order_id, order in state["pending_orders"]
    }
    account.positions = {
        position["symbol"]: load_record(PaperPosition, position) for position in state["positions"]
    }
    account.quotes = {symbol: (quote[0], quote[1]) for symbol, quote in state["quotes"].items()}
    account.quote_rates = dict(state["quote_rates"])
    account.trades = [load_record(PaperTrade, trade) for trade in state["trades"]]
    account.fills = [load_record(PaperFill, fill) for fill in state["fills"]]
    account.swap_charges = [load_record(PaperSwapCharge, item) for item in state["swap_charges"]]
    account.rejections = [load_record(PaperOrderRejected, item) for item in state["rejections"]]
    account.reconciliations = [
        load_record(PaperReconciliation, item) for item in state["reconciliations"]
    ]
    account.unmatched_executions = [
        load_record(PaperReconciliationUnmatched, item) for item in state["unmatched_executions"]
    ]
    account.reconciled_fill_indexes = set(state["reconciled_fill_indexes"])
    account.equity_curve.clear()
    account.equity_curve.extend((point[0], point[1]) for point in state["equity_curve"])
    account.peak_equity = state["peak_equity"]
    account.max_drawdown = state["max_drawdown"]
    account.max_drawdown_fraction = state["max_drawdown_fraction"]


def load_record(record_type: type[Record], data: Mapping[str, Any]) -> Record:
    """Build one paper dataclass from its ``asdict`` form, restoring enums and nested orders."""
    values = dict(data)
    names = {field.name for field in fields(record_type)}  # type: ignore[arg-type]
    if "side" in names:
        values["side"] = OrderSide(values["side"])
    if "kind" in names:
        values["kind"] = OrderKind(values["kind"])
    if "exit_reason" in names:
        values["exit_reason"] = FillReason(values["exit_reason"])
    if record_type is PaperFill:
        values["reason"] = FillReason(values["reason"])
    if record_type is PaperOrderRejected:
        values["order"] = load_record(PaperOrder, values["order"])
    return record_type(**values)
