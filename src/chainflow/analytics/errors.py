"""The analytics service's errors, each with its wire code and HTTP status."""

from __future__ import annotations

from chainflow.core.errors import InvalidInput


class InvalidWindowError(InvalidInput):
    """A ratios window that is neither a positive number of days nor ``all``."""

    code = "analytics_window_invalid"


class InvalidMonthError(InvalidInput):
    """A month that is not ``YYYY-MM`` within the snapshot's months."""

    code = "analytics_month_invalid"


class InvalidDriftQueryError(InvalidInput):
    """A drift query without a strategy, or with ``from`` not before ``to``."""

    code = "analytics_drift_query_invalid"
