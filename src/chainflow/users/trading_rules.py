"""Tenant trading settings: defaults per risk tolerance and validated ranges.

``build_trading_settings`` turns an update (any field may be left out) into complete,
validated settings: missing fields take the defaults of the chosen risk tolerance. Every
problem is reported at once in ``InvalidTradingSettingsError.details`` as
``{"field", "code", "message"}`` with one of the codes ``invalid_risk_tolerance``,
``out_of_range``, ``invalid_symbol``, ``too_many_symbols`` or ``inconsistent_limits``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from chainflow.users.api import RiskTolerance, TradingSettings
from chainflow.users.errors import InvalidTradingSettingsError

SYMBOL_PATTERN = re.compile(r"[A-Z0-9._\-]{1,32}")
MAX_ALLOWED_SYMBOLS = 500
LOT_STEP_DECIMALS = 2


@dataclass(frozen=True, slots=True)
class Range:
    low: float
    high: float


RANGES: dict[str, Range] = {
    "max_risk_per_trade_pct": Range(0.01, 10.0),
    "max_daily_loss_pct": Range(0.1, 50.0),
    "max_drawdown_pct": Range(1.0, 90.0),
    "default_lot_size": Range(0.01, 100.0),
    "leverage": Range(1, 500),
}

DEFAULTS: dict[RiskTolerance, TradingSettings] = {
    RiskTolerance.CONSERVATIVE: TradingSettings(
        risk_tolerance=RiskTolerance.CONSERVATIVE,
        max_risk_per_trade_pct=0.5,
        max_daily_loss_pct=2.0,
        max_drawdown_pct=10.0,
        default_lot_size=0.01,
        allowed_symbols=(),
        leverage=10,
        is_default=True,
    ),
    RiskTolerance.MODERATE: TradingSettings(
        risk_tolerance=RiskTolerance.MODERATE,
        max_risk_per_trade_pct=1.0,
        max_daily_loss_pct=5.0,
        max_drawdown_pct=20.0,
        default_lot_size=0.1,
        allowed_symbols=(),
        leverage=50,
        is_default=True,
    ),
    RiskTolerance.AGGRESSIVE: TradingSettings(
        risk_tolerance=RiskTolerance.AGGRESSIVE,
        max_risk_per_trade_pct=2.0,
        max_daily_loss_pct=10.0,
        max_drawdown_pct=35.0,
        default_lot_size=0.5,
        allowed_symbols=(),
        leverage=200,
        is_default=True,
    ),
}

DEFAULT_RISK_TOLERANCE = RiskTolerance.MODERATE


@dataclass(frozen=True, slots=True)
class TradingSettingsUpdate:
    """What a caller sends; ``None`` means "the default of the risk tolerance"."""

    risk_tolerance: str
    max_risk_per_trade_pct: float | None = None
    max_daily_loss_pct: float | None = None
    max_drawdown_pct: float | None = None
    default_lot_size: float | None = None
    allowed_symbols: Sequence[str] | None = None
    leverage: int | None = None


def default_trading_settings(tolerance: RiskTolerance = DEFAULT_RISK_TOLERANCE) -> TradingSettings:
    """Return the defaults of ``tolerance``."""
    return DEFAULTS[tolerance]


def build_trading_settings(update: TradingSettingsUpdate) -> TradingSettings:
    """Return complete settings from ``update``; raise ``InvalidTradingSettingsError``
    listing every field that is out of range or malformed."""
    problems: list[dict[str, str]] = []
    try:
        tolerance = RiskTolerance(update.risk_tolerance)
    except ValueError:
        problems.append(
            _problem(
                "risk_tolerance",
                "invalid_risk_tolerance",
                f"risk_tolerance must be one of {', '.join(RiskTolerance)}; "
                f"received {update.risk_tolerance!r}",
            )
        )
        tolerance = DEFAULT_RISK_TOLERANCE
    defaults = DEFAULTS[tolerance]

    def pick(field: str, value: float | None) -> float:
        chosen = float(getattr(defaults, field)) if value is None else float(value)
        if field == "default_lot_size" and math.isfinite(chosen):
            chosen = round(chosen, LOT_STEP_DECIMALS)
        limits = RANGES[field]
        if not (math.isfinite(chosen) and limits.low <= chosen <= limits.high):
            problems.append(
                _problem(
                    field,
                    "out_of_range",
                    f"{field} must be between {_number(limits.low)} and "
                    f"{_number(limits.high)}; received {_number(value)}",
                )
            )
        return chosen

    risk_per_trade = pick("max_risk_per_trade_pct", update.max_risk_per_trade_pct)
    daily_loss = pick("max_daily_loss_pct", update.max_daily_loss_pct)
    drawdown = pick("max_drawdown_pct", update.max_drawdown_pct)
    lot_size = pick("default_lot_size", update.default_lot_size)
    leverage = int(pick("leverage", update.leverage))
    symbols = _normalized_symbols(update.allowed_symbols, problems)
    if not problems and not risk_per_trade <= daily_loss <= drawdown:
        problems.append(
            _problem(
                "max_daily_loss_pct",
                "inconsistent_limits",
                "limits must satisfy max_risk_per_trade_pct <= max_daily_loss_pct <= "
                f"max_drawdown_pct; received {_number(risk_per_trade)}, "
                f"{_number(daily_loss)} and {_number(drawdown)}",
            )
        )
    if problems:
        raise InvalidTradingSettingsError(
            "The trading settings are invalid: " + "; ".join(p["message"] for p in problems),
            details=problems,
        )
    return replace(
        defaults,
        max_risk_per_trade_pct=risk_per_trade,
        max_daily_loss_pct=daily_loss,
        max_drawdown_pct=drawdown,
        default_lot_size=lot_size,
        allowed_symbols=symbols,
        leverage=leverage,
        is_default=False,
    )


def _normalized_symbols(
    raw: Sequence[str] | None, problems: list[dict[str, str]]
) -> tuple[str, ...]:
    if raw is None:
        return ()
    if len(raw) > MAX_ALLOWED_SYMBOLS:
        problems.append(
            _problem(
                "allowed_symbols",
                "too_many_symbols",
                f"allowed_symbols must list at most {MAX_ALLOWED_SYMBOLS} symbols; "
                f"received {len(raw)}",
            )
        )
        return ()
    symbols: list[str] = []
    for index, value in enumerate(raw):
        symbol = value.strip().upper()
        if not SYMBOL_PATTERN.fullmatch(symbol):
            problems.append(
                _problem(
                    f"allowed_symbols[{index}]",
                    "invalid_symbol",
                    "each symbol must be 1 to 32 characters of A-Z, 0-9, '.', '_' or '-'; "
                    f"received {value[:40]!r}",
                )
            )
        elif symbol not in symbols:
            symbols.append(symbol)
    return tuple(symbols)


def _problem(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _number(value: float | None) -> str:
    if value is None:
        return "nothing"
    return f"{value:g}" if isinstance(value, float) else str(value)
