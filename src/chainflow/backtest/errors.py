"""The backtest service's errors, each with its wire code and HTTP status.

The engine, the search and the walk-forward document ``ValueError`` for bad input and their
callers (the CLI, job planning, the trial runner) catch it: the errors they raise for input
are also ``ValueError``s.
"""

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


class InvalidBacktestInputError(InvalidBacktestRequestError, ValueError):
    """A value the engine, the search or the walk-forward cannot work with (a parameter out of
    its range, an unknown strategy or objective, bars too few or malformed, signals that are
    not -1/0/1, a model for other features).

    Same wire code as a refused job request (it is one when it comes from a job); also a
    ``ValueError``, which these modules document and their callers catch.
    """


class BacktestCheckpointMismatchError(Conflict, ValueError):
    """A checkpoint resumed by a job it does not belong to (another unit or count of steps).

    Also a ``ValueError``, like the engine's other refusals of what it is given.
    """

    code = "backtest_checkpoint_mismatch"


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
