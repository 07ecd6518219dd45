"""The analytics service's errors, each with its wire code and HTTP status."""

from __future__ import annotations

from chainflow.core.errors import InvalidInput


class InvalidWindowError(InvalidInput):
    """A ratios window that is neither a positive number of days nor ``all``."""

    code = "analytics_window_invalid"
