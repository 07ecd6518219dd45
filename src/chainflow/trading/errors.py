"""The trading service's errors, each with its wire code and HTTP status.

A decision to hold or a signal refused by risk is not an error: the decision carries its
reasons. These are for values the service cannot work with. Each is also a ``ValueError``:
the decision types, the strategy and the paper desk document ``ValueError`` for bad input,
and their callers (the bar-close path, the tick path, the backtest) catch it.

A bus message that does not decode raises ``core.errors.MalformedEventError``; the paper
account's order and tick checks raise ``core.errors.InvalidInput``.
"""

from __future__ import annotations

from chainflow.core.errors import ConfigurationError, InvalidInput


class InvalidDecisionInputError(InvalidInput, ValueError):
    """A model's output or a strategy's context that cannot be decided on: probabilities
    not summing to 1 or missing a class, an unknown regime label, a position that is not
    an action, a bar older than the last one of its symbol."""

    code = "decision_input_invalid"


class InvalidStrategySettingsError(InvalidInput, ValueError):
    """A tenant's decision settings out of range: an unknown risk tolerance, thresholds
    outside their bounds, hysteresis settings (cooldown, exit edge) that cannot hold."""

    code = "strategy_settings_invalid"


class InvalidTradingConfigError(ConfigurationError, ValueError):
    """A trading setting of the process that cannot run (e.g. a tick-queue quantum below 1)."""

    code = "trading_config_invalid"


class InvalidTradingStateError(InvalidInput, ValueError):
    """A saved state that does not restore here: a strategy snapshot of another strategy,
    version or settings, or a paper account document with a missing or malformed field."""

    code = "trading_state_invalid"
