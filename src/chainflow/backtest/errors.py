"""The backtest service's errors, each with its wire code and HTTP status."""

from __future__ import annotations

from chainflow.core.errors import InvalidInput, NotFound, RateLimited, TierLimitExceeded


class BacktestJobNotFoundError(NotFound):
    code = "backtest_job_not_found"


class BacktestQuotaExceededError(RateLimited):
    """The tenant started as many jobs today (UTC) as its tier allows; retry tomorrow."""

    code = "backtest_quota_exceeded"


class BacktestFeatureNotInTierError(TierLimitExceeded):
    """Optimization or walk-forward asked for on a tier without it (upgrade)."""

    code = "feature_not_in_tier"


class InvalidBacktestRequestError(InvalidInput):
    code = "invalid_backtest_request"
