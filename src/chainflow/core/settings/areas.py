"""The one rule every settings area follows: ``CHAINFLOW_<AREA>_<FIELD>``, frozen, ``.env``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict


def area(prefix: str) -> SettingsConfigDict:
    """Return the model config of a settings area read with ``prefix``."""
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", extra="ignore", frozen=True, populate_by_name=True
    )
