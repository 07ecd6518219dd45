"""Instrument specifications, lot rounding and position values in the account currency.

Conventions used across ``chainflow.risk``:

- Money is float64 in the account currency; prices are in the quote currency.
- ``lots`` on a position is signed (positive long, negative short); an order's lots are
  positive and its direction is its ``side``.
- ``quote_to_account`` converts an amount in the quote currency to the account currency
  (1.0 for a USD account trading EURUSD; ``1 / USDJPY`` for USDJPY).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal, TypeAlias

from chainflow.risk.errors import InvalidRiskInputError

Side: TypeAlias = Literal["buy", "sell"]

# A quotient within this many lot steps of a whole step is float noise, not a remainder
# (0.29 / 0.01 == 28.999999999999996).
_STEP_NOISE = 1e-9


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading specification of one symbol, as the broker defines it."""

    symbol: str
    contract_size: float = 100_000
    lot_step: float = 0.01
    min_lot: float = 0.01
    max_lot: float = 100.0
    price_digits: int = 5
    pip_size: float = 0.0001
    quote_to_account: float = 1.0

    def __post_init__(self) -> None:
        if not self.symbol:
            raise InvalidRiskInputError("expected a non-empty symbol; received ''")
        for name in ("contract_size", "lot_step", "min_lot", "max_lot", "pip_size"):
            _require_positive(name, getattr(self, name))
        _require_positive("quote_to_account", self.quote_to_account)
        if self.min_lot > self.max_lot:
            raise InvalidRiskInputError(
                f"expected min_lot <= max_lot; received min_lot {self.min_lot:g}, "
                f"max_lot {self.max_lot:g}"
            )
        if self.price_digits < 0:
            raise InvalidRiskInputError(f"expected price_digits >= 0; received {self.price_digits}")

    @property
    def base_currency(self) -> str | None:
        """Return the base currency (``EUR`` for ``EURUSD.a``), or None for a non-pair."""
        pair = currency_pair(self.symbol)
        return pair[0] if pair else None

    @property
    def quote_currency(self) -> str | None:
        """Return the quote currency (``USD`` for ``EURUSD.a``), or None for a non-pair."""
        pair = currency_pair(self.symbol)
        return pair[1] if pair else None


@dataclass(frozen=True, slots=True)
class Position:
    """An open position: signed lots (negative for short) opened at ``entry_price``."""

    symbol: str
    lots: float
    entry_price: float
    instrument: Instrument

    def __post_init__(self) -> None:
        if not math.isfinite(self.lots):
            raise InvalidRiskInputError(f"expected finite lots; received {self.lots}")
        _require_positive("entry_price", self.entry_price)


@lru_cache(maxsize=8192)  # asked on every tick of every symbol (the paper account's rate)
def currency_pair(symbol: str) -> tuple[str, str] | None:
    """Split ``EURUSD`` (or a broker form such as ``EURUSD.a``, ``eurusdm``) into currencies.

    Return None when the symbol does not start with six letters (``US500``, ``BTC-PERP``).
    """
    head = symbol[:6]
    if len(head) < 6 or not head.isascii() or not head.isalpha():
        return None
    head = head.upper()
    return head[:3], head[3:]


def round_lots(lots: float, instrument: Instrument) -> float:
    """Round a size down to the lot step, towards zero, within the instrument's lot bounds.

    A size whose magnitude rounds below ``min_lot`` becomes 0; a size above ``max_lot`` is
    capped at ``max_lot`` (itself rounded down to the step). The sign is kept. Integer
    arithmetic on the number of steps keeps the result free of float noise, so the
    function is idempotent.
    """
    if not math.isfinite(lots):
        raise InvalidRiskInputError(f"expected finite lots; received {lots}")
    step = instrument.lot_step
    steps = min(_whole_steps(abs(lots), step), _whole_steps(instrument.max_lot, step))
    magnitude = round(steps * step, _step_decimals(step))
    if magnitude < instrument.min_lot - step * _STEP_NOISE:
        return 0.0
    return math.copysign(magnitude, lots) if magnitude else 0.0


def lot_steps(lots: float, instrument: Instrument) -> int:
    """Return how many whole lot steps ``|lots|`` holds (float noise forgiven)."""
    return _whole_steps(abs(lots), instrument.lot_step)


def value_per_price_unit(instrument: Instrument, lots: float) -> float:
    """Return the account-currency P&L of ``lots`` for a price move of 1.0 (signed by lots)."""
    return lots * instrument.contract_size * instrument.quote_to_account


def pip_value(instrument: Instrument, lots: float) -> float:
    """Return the account-currency P&L of ``lots`` for a one-pip move."""
    return value_per_price_unit(instrument, lots) * instrument.pip_size


def notional_value(instrument: Instrument, lots: float, price: float) -> float:
    """Return the absolute notional of ``lots`` at ``price`` in the account currency."""
    return abs(lots) * instrument.contract_size * price * instrument.quote_to_account


def _whole_steps(magnitude: float, step: float) -> int:
    ratio = magnitude / step
    nearest = round(ratio)
    if abs(ratio - nearest) <= _STEP_NOISE * max(1.0, ratio):
        return int(nearest)
    return math.floor(ratio)


def _step_decimals(step: float) -> int:
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _require_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidRiskInputError(f"expected {name} > 0; received {value}")


def default_instrument(symbol: str, price: float, account_currency: str = "USD") -> Instrument:
    """Return a standard-lot specification of ``symbol`` for an account in ``account_currency``.

    100 000 units per lot, 0.01 lot step from 0.01 to 100 lots; JPY-quoted pairs get a 0.01
    pip and 3 digits, others 0.0001 and 5. The quote converts to the account currency at 1.0
    when it is the account currency, at ``1 / price`` when the base is; for a cross without
    either, 1.0 (an approximation until conversion rates are read).
    """
    pair = currency_pair(symbol)
    is_jpy = pair is not None and pair[1] == "JPY"
    return Instrument(
        symbol,
        pip_size=0.01 if is_jpy else 0.0001,
        price_digits=3 if is_jpy else 5,
        quote_to_account=quote_to_account(symbol, price, account_currency),
    )


def quote_to_account(symbol: str, price: float, account_currency: str = "USD") -> float:
    """The quote currency's value in ``account_currency`` (``default_instrument``'s rule):
    1.0 unless the base is the account currency (then ``1 / price``)."""
    pair = currency_pair(symbol)
    if pair is not None and pair[1] != account_currency and pair[0] == account_currency:
        return 1.0 / price
    return 1.0
