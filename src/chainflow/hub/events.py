"""Events the hub publishes and the topic builders for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chainflow.core.messages import Event, topic


@dataclass(frozen=True, slots=True)
class ConfigChanged(Event):
    """A config override was set (``value``) or cleared (``cleared=True``)."""

    key: str
    value: Any
    cleared: bool
    updated_by: str | None
    ts_event_ms: int


def config_changed_topic() -> str:
    return topic("hub", "config", "changed")
