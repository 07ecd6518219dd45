"""Default instrument specs of a symbol for the paper account (``risk.default_instrument``).

Until broker specs are imported, a symbol gets the common FX contract of
``risk.default_instrument``: 100 000 units per lot, 0.01 lot step, 5 price digits (3 for
JPY quotes), quote converted to the USD account at 1 / price when USD is the base.
"""

from __future__ import annotations

from chainflow.risk.api import Instrument, default_instrument, quote_to_account
from chainflow.trading.paper.positions import PaperInstrument

ACCOUNT_CURRENCY = "USD"


def paper_instrument(symbol: str) -> PaperInstrument:
    """Return the paper account's specs of ``symbol`` (its conversion rate comes per tick)."""
    spec = default_instrument(symbol, 1.0, ACCOUNT_CURRENCY)
    return PaperInstrument(symbol, price_digits=spec.price_digits, pip_size=spec.pip_size)


def quote_rate(symbol: str, bid: float, ask: float) -> float:
    """Return the quote→account conversion of ``symbol`` at the mid of ``bid``/``ask``."""
    return quote_to_account(symbol, (bid + ask) / 2.0, ACCOUNT_CURRENCY)


def risk_instrument(symbol: str, price: float | None) -> Instrument:
    """Return risk's specs of ``symbol``, converting to the account at ``price``."""
    usable = price if price is not None and price > 0 else 1.0
    return default_instrument(symbol, usable, ACCOUNT_CURRENCY)
