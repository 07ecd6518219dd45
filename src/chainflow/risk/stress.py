"""Scenario stress tests: relative price shocks per currency or per symbol.

A currency shock ``s`` means that currency gains ``s`` (a fraction; negative for a fall)
against every other currency. A pair ``BASE/QUOTE`` then moves by ``(1 + s_base) /
(1 + s_quote)``: ``{"CHF": 0.15}`` sends USDCHF down by 1 − 1/1.15 ≈ 13 % and CHFJPY up by
15 %. A symbol shock (``{"XAUUSD": 0.05}``) is the relative move of that symbol's price and
replaces any currency shocks for that symbol. Symbols that are not currency pairs
(``US500``) move only with a symbol shock.

P&L is the change in value from the current price to the shocked price, in the account
currency through the instrument's fixed ``quote_to_account`` (a first-order figure for
pairs whose quote currency is itself shocked).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from chainflow.risk.errors import InvalidRiskInputError
from chainflow.risk.instruments import Position, currency_pair, value_per_price_unit


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named set of relative shocks keyed by currency (``CHF``) or symbol (``XAUUSD``)."""

    name: str
    shocks: Mapping[str, float]
    description: str = ""

    def __post_init__(self) -> None:
        normalized: dict[str, float] = {}
        for key, shock in self.shocks.items():
            if not (math.isfinite(shock) and shock > -1.0):
                raise InvalidRiskInputError(f"expected a shock > -1 for {key}; received {shock}")
            normalized[key.upper()] = float(shock)
        object.__setattr__(self, "shocks", MappingProxyType(normalized))

    def price_multiplier(self, symbol: str) -> float:
        """Return the factor the scenario applies to ``symbol``'s price (1.0 if untouched)."""
        symbol_shock = self.shocks.get(symbol.upper())
        if symbol_shock is not None:
            return 1.0 + symbol_shock
        pair = currency_pair(symbol)
        if pair is None:
            return 1.0
        base, quote = pair
        return (1.0 + self.shocks.get(base, 0.0)) / (1.0 + self.shocks.get(quote, 0.0))


@dataclass(frozen=True, slots=True)
class PositionStress:
    """One position under a scenario: prices before and after, and the P&L change."""

    symbol: str
    lots: float
    price: float
    shocked_price: float
    pnl: float


@dataclass(frozen=True, slots=True)
class StressResult:
    """P&L of each position (in input order) and of the portfolio under one scenario."""

    scenario: str
    positions: tuple[PositionStress, ...]
    total_pnl: float
    pnl_by_symbol: Mapping[str, float] = field(default_factory=dict)


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        scenario.name: scenario
        for scenario in (
            Scenario(
                "SNB 2015",
                {"CHF": 0.15},
                "The SNB drops the EURCHF floor: CHF +15 % against everything.",
            ),
            Scenario("USD rally", {"USD": 0.03}, "USD +3 % against the majors."),
            Scenario("USD selloff", {"USD": -0.03}, "USD -3 % against the majors."),
            Scenario("Brexit vote 2016", {"GBP": -0.08}, "GBP -8 % against everything overnight."),
            Scenario(
                "Risk-off",
                {"JPY": 0.05, "CHF": 0.03, "AUD": -0.04, "NZD": -0.04, "CAD": -0.02},
                "Flight to safety: funding currencies up, commodity currencies down.",
            ),
            Scenario(
                "Gold spike", {"XAU": 0.05}, "Gold +5 % against every currency (XAUUSD etc.)."
            ),
        )
    }
)


def stress_portfolio(
    positions: Sequence[Position], prices: Mapping[str, float], scenario: Scenario
) -> StressResult:
    """Apply ``scenario`` to each position's current price and return the P&L change.

    ``prices`` maps symbol to current price; a symbol without one is valued at its entry
    price. A long position gains when its price rises, a short when it falls.
    """
    rows: list[PositionStress] = []
    by_symbol: dict[str, float] = {}
    for position in positions:
        price = prices.get(position.symbol, position.entry_price)
        if not (math.isfinite(price) and price > 0):
            raise InvalidRiskInputError(
                f"expected a price > 0 for {position.symbol}; received {price}"
            )
        shocked = price * scenario.price_multiplier(position.symbol)
        pnl = value_per_price_unit(position.instrument, position.lots) * (shocked - price)
        rows.append(PositionStress(position.symbol, position.lots, price, shocked, pnl))
        by_symbol[position.symbol] = by_symbol.get(position.symbol, 0.0) + pnl
    total = math.fsum(row.pnl for row in rows)
    return StressResult(scenario.name, tuple(rows), total, MappingProxyType(by_symbol))


def stress_all(
    positions: Sequence[Position],
    prices: Mapping[str, float],
    scenarios: Mapping[str, Scenario] = SCENARIOS,
) -> tuple[StressResult, ...]:
    """Run every scenario; return the results worst total P&L first."""
    results = [stress_portfolio(positions, prices, scenario) for scenario in scenarios.values()]
    return tuple(sorted(results, key=lambda result: result.total_pnl))
