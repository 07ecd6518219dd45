"""Matching real MT5 executions to the paper account's fills, to measure slippage.

Rules: only paper fills of the same symbol and side are candidates. A paper fill whose
``signal_id`` equals the execution's ``ticket`` wins, even when already reconciled (a real
order may fill in parts); otherwise the not yet reconciled paper fill nearest in ``ts``
(ties: the earliest fill), within ``max_distance_ms`` when given. When nothing matches,
the result is a ``PaperReconciliationUnmatched`` with the reason; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chainflow.core.errors import InvalidInput
from chainflow.trading.paper.positions import (
    OrderSide,
    PaperFill,
    PaperInstrument,
    round_price,
)

EXECUTION_KEYS = ("symbol", "side", "volume", "price", "ticket", "ts")


@dataclass(frozen=True, slots=True)
class PaperReconciliation:
    """A real MT5 fill matched to a paper fill; ``slippage`` = real price − paper price."""

    ticket: str
    symbol: str
    side: OrderSide
    real_lots: float
    real_price: float
    real_ts: int
    paper_order_id: int | None
    paper_lots: float
    paper_price: float
    paper_ts: int
    slippage: float
    slippage_points: float


@dataclass(frozen=True, slots=True)
class PaperReconciliationUnmatched:
    """A real MT5 fill with no paper counterpart; it is recorded and changes nothing else."""

    ticket: str
    symbol: str
    side: OrderSide
    real_lots: float
    real_price: float
    real_ts: int
    reason: str


def match_execution(
    fills: list[PaperFill],
    reconciled_fill_indexes: set[int],
    instruments: Mapping[str, PaperInstrument],
    execution: Mapping[str, Any],
    max_distance_ms: int | None = None,
) -> PaperReconciliation | PaperReconciliationUnmatched:
    """Match ``execution`` to one of ``fills``; mark the chosen index as reconciled."""
    symbol, side, lots, price, ticket, ts = parse_execution(execution)
    candidates = [
        index
        for index, fill in enumerate(fills)
        if fill.symbol == symbol and fill.side is side and symbol in instruments
    ]
    chosen = [index for index in candidates if ticket and fills[index].signal_id == ticket]
    if not chosen:
        chosen = [
            index
            for index in candidates
            if index not in reconciled_fill_indexes
            and (max_distance_ms is None or abs(fills[index].ts - ts) <= max_distance_ms)
        ]
    if not chosen:
        return PaperReconciliationUnmatched(
            ticket=ticket,
            symbol=symbol,
            side=side,
            real_lots=lots,
            real_price=price,
            real_ts=ts,
            reason=f"expected a paper {side} fill of {symbol}; received none that matches",
        )
    index = min(chosen, key=lambda candidate: (abs(fills[candidate].ts - ts), candidate))
    fill = fills[index]
    reconciled_fill_indexes.add(index)
    instrument = instruments[symbol]
    slippage = round_price(instrument, price - fill.price)
    return PaperReconciliation(
        ticket=ticket,
        symbol=symbol,
        side=side,
        real_lots=lots,
        real_price=price,
        real_ts=ts,
        paper_order_id=fill.order_id,
        paper_lots=fill.lots,
        paper_price=fill.price,
        paper_ts=fill.ts,
        slippage=slippage,
        slippage_points=round(slippage / instrument.point, 1),
    )


def parse_execution(
    execution: Mapping[str, Any],
) -> tuple[str, OrderSide, float, float, str, int]:
    """Return (symbol, side, lots, price, ticket, ts) of an MT5 execution report."""
    missing = [key for key in EXECUTION_KEYS if key not in execution]
    if missing:
        raise InvalidInput(
            f"expected execution keys {list(EXECUTION_KEYS)}; received {sorted(execution)}"
        )
    try:
        return (
            str(execution["symbol"]),
            OrderSide(str(execution["side"]).lower()),
            float(execution["volume"]),
            float(execution["price"]),
            str(execution["ticket"]),
            int(execution["ts"]),
        )
    except (TypeError, ValueError) as error:
        raise InvalidInput(
            f"expected a well-typed execution; received {dict(execution)}"
        ) from error
