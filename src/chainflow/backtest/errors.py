"""The backtest service's errors, each with its wire code and HTTP status."""

from __future__ import annotations

from chainflow.core.errors import (
    Conflict,
    DependencyUnavailable,
    FeatureNotInTierError,
    InvalidInput,
    NotFound,
    RateLimited,
    TierLimitExceeded,
)


class BacktestJobNotFoundError(NotFound):
    code = "backtest_job_not_found"


class BacktestQuotaExceededError(RateLimited):
    """The tenant started as many jobs today (UTC) as its tier allows; retry tomorrow."""

    code = "backtest_quota_exceeded"


class BacktestFeatureNotInTierError(FeatureNotInTierError):
    """Optimization or walk-forward asked for on a tier without it (upgrade)."""


class InvalidBacktestRequestError(InvalidInput):
    code = "invalid_backtest_request"


class BacktestTooLargeError(TierLimitExceeded):
    """A job's combinations x bars exceed the tier's ``backtest_combination_bars``."""

    code = "backtest_too_large"


class BacktestJobFinishedError(Conflict):
    """Cancelling a job that already succeeded or failed."""

    code = "backtest_job_finished"


class BacktestJobNotResumableError(Conflict):
    """Resuming a job that is not cancelled or interrupted."""

    code = "backtest_job_not_resumable"


class BacktestServiceStoppingError(DependencyUnavailable):
    """A job submitted or resumed while this process shuts down; retry on another."""

    code = "backtest_service_stopping"
