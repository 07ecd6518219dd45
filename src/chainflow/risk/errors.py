"""The risk service's errors, each with its wire code and HTTP status.

An order refused by the limits is not an error: ``check_order`` returns the reasons.
"""

from __future__ import annotations

from chainflow.core.errors import InvalidInput


class InvalidOrderError(InvalidInput):
    """A proposed order that cannot be checked as given (fix the request)."""

    code = "invalid_order"


class InvalidRiskInputError(InvalidInput, ValueError):
    """A value the risk maths or its value types cannot work with (NaN, a negative price,
    a fraction out of its range, a malformed matrix, an unknown tier or breaker kind).

    Also a ``ValueError``: sizing, stops, VaR and stress document ``ValueError`` for bad
    input and their callers catch it.
    """

    code = "risk_input_invalid"
