"""Errors of the hub service."""

from __future__ import annotations

from chainflow.core.errors import InvalidInput, NotFound


class UnknownConfigKeyError(NotFound):
    code = "unknown_config_key"


class InvalidConfigValueError(InvalidInput):
    code = "invalid_config_value"
