"""Stop-loss and take-profit levels from ATR multiples or from market structure.

A buy's stop is below entry and its take profit above; a sell's the reverse. Levels are
rounded to the instrument's price digits (half to even, as ``round`` does).
"""

from __future__ import annotations

import math

from chainflow.risk.errors import InvalidRiskInputError
from chainflow.risk.instruments import Side


def atr_stops(
    side: Side,
    entry: float,
    atr: float,
    *,
    stop_atr: float = 1.5,
    take_profit_atr: float | None = 3.0,
    price_digits: int,
) -> tuple[float, float | None]:
    """Return ``(stop_loss, take_profit)`` at ``stop_atr`` and ``take_profit_atr`` ATRs.

    ``take_profit_atr=None`` gives no take profit. Raise ValueError when the stop would be
    at or below zero (an ATR too large for the price).
    """
    direction = _direction(side)
    _require_positive("entry", entry)
    _require_positive("atr", atr)
    _require_positive("stop_atr", stop_atr)
    if price_digits < 0:
        raise InvalidRiskInputError(f"expected price_digits >= 0; received {price_digits}")
    stop = round(entry - direction * stop_atr * atr, price_digits)
    if stop <= 0:
        raise InvalidRiskInputError(
            f"expected a stop above 0; received {stop:g} from entry {entry:g}, "
            f"{stop_atr:g} x ATR {atr:g}"
        )
    if take_profit_atr is None:
        return stop, None
    _require_positive("take_profit_atr", take_profit_atr)
    take_profit = round(entry + direction * take_profit_atr * atr, price_digits)
    if take_profit <= 0:
        raise InvalidRiskInputError(
            f"expected a take profit above 0; received {take_profit:g} from entry {entry:g}, "
            f"{take_profit_atr:g} x ATR {atr:g}"
        )
    return stop, take_profit


def structure_stop(
    side: Side, entry: float, swing_level: float, buffer: float, *, price_digits: int = 5
) -> float | None:
    """Return a stop ``buffer`` beyond the swing low (buy) or swing high (sell).

    Return None when the swing level is not on the losing side of entry (a buy whose swing
    low is at or above entry): that structure gives no stop.
    """
    direction = _direction(side)
    _require_positive("entry", entry)
    _require_positive("swing_level", swing_level)
    if not (math.isfinite(buffer) and buffer >= 0):
        raise InvalidRiskInputError(f"expected buffer >= 0; received {buffer}")
    if direction * (entry - swing_level) <= 0:
        return None
    stop = round(swing_level - direction * buffer, price_digits)
    return stop if stop > 0 else None


def _direction(side: Side) -> int:
    if side == "buy":
        return 1
    if side == "sell":
        return -1
    raise InvalidRiskInputError(f"expected side 'buy' or 'sell'; received {side!r}")


def _require_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidRiskInputError(f"expected {name} > 0; received {value}")
