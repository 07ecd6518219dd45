"""How a report writes its numbers: one function per kind, shared by HTML, text and PDF."""

from __future__ import annotations


def signed_money(value: float) -> str:
    """``+1,234.50`` / ``-50.00`` / ``0.00``."""
    rounded = round(value, 2)
    if rounded == 0:
        return "0.00"
    return f"{rounded:+,.2f}"


def money(value: float) -> str:
    """``10,050.00``."""
    return f"{value:,.2f}"


def signed_percent(value: float) -> str:
    """``+0.50%`` / ``-1.25%`` / ``0.00%``."""
    rounded = round(value, 2)
    if rounded == 0:
        return "0.00%"
    return f"{rounded:+.2f}%"


def percent(value: float | None) -> str:
    """``2.94%``; ``n/a`` without a value (a win rate of no trades)."""
    return "n/a" if value is None else f"{value:.2f}%"


def ratio(value: float | None) -> str:
    """``2.50``; ``n/a`` without a value (a profit factor without losses)."""
    return "n/a" if value is None else f"{value:.2f}"
