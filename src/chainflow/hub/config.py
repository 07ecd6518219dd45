"""Config distribution: typed keys read from settings, overridable in the database.

Every overridable key is declared once with its type. ``ConfigService.set_override`` validates
the value, stores it in ``hub_config_overrides`` and, after the commit, publishes
``hub.config.changed``; every process (live subscription) updates its view and runs the key's
``apply`` hook, so a change reaches the whole cluster without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import PositiveFloat, TypeAdapter, ValidationError

from chainflow.core.clock import Clock
from chainflow.core.logging import get_logger
from chainflow.core.settings import Settings
from chainflow.hub.api import BusMessage, EventBus, Subscription
from chainflow.hub.errors import InvalidConfigValueError, UnknownConfigKeyError
from chainflow.hub.events import ConfigChanged, config_changed_topic
from chainflow.hub.repository import ConfigOverrideRepository
from chainflow.storage.relational import Database

log = get_logger("chainflow.hub.config")

ApplyHook = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One overridable setting: its dotted key, type and where its default comes from."""

    key: str
    adapter: TypeAdapter[Any]
    default: Callable[[Settings], Any]
    description: str
    apply: ApplyHook | None = None


def builtin_config_keys(apply_log_level: ApplyHook | None = None) -> list[ConfigKey]:
    return [
        ConfigKey(
            "log.level",
            TypeAdapter(Literal["DEBUG", "INFO", "WARNING", "ERROR"]),
            lambda s: s.log.level,
            "Log level of every process.",
            apply_log_level,
        ),
        ConfigKey(
            "hub.heartbeat_interval_s",
            TypeAdapter(PositiveFloat),
            lambda s: s.hub.heartbeat_interval_s,
            "Seconds between registry heartbeats.",
        ),
    ]


class ConfigService:
    """Effective configuration = settings, overlaid by overrides stored in the database."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        bus: EventBus,
        clock: Clock,
        keys: list[ConfigKey],
    ) -> None:
        self._settings = settings
        self._database = database
        self._bus = bus
        self._clock = clock
        self._keys = {k.key: k for k in keys}
        self._overrides: dict[str, Any] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Load stored overrides, apply them, and follow changes made by other processes."""
        async with self._database.unit_of_work() as uow:
            stored = await ConfigOverrideRepository(uow.session).list_all()
        for row in stored:
            if row.key in self._keys:
                self._remember(row.key, json.loads(row.value), cleared=False)
        self._subscription = await self._bus.subscribe(config_changed_topic(), self.on_changed)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    def declare(self, key: ConfigKey) -> None:
        """Make another key overridable (services declare theirs at start)."""
        self._keys[key.key] = key

    def get(self, key: str) -> Any:
        spec = self._spec(key)
        return self._overrides.get(key, spec.default(self._settings))

    def effective(self) -> dict[str, dict[str, Any]]:
        return {
            key: {
                "value": self.get(key),
                "source": "override" if key in self._overrides else "settings",
                "description": spec.description,
            }
            for key, spec in sorted(self._keys.items())
        }

    async def set_override(self, key: str, value: Any, *, updated_by: str | None = None) -> Any:
        """Validate and store an override; publish ``hub.config.changed`` after the commit."""
        spec = self._spec(key)
        try:
            typed = spec.adapter.validate_python(value)
        except ValidationError as e:
            raise InvalidConfigValueError(
                f"config key {key!r} expects {spec.adapter.json_schema()}; received {value!r}",
                details=e.errors(include_url=False),
            ) from e
        encoded = spec.adapter.dump_python(typed, mode="json")
        async with self._database.unit_of_work() as uow:
            await ConfigOverrideRepository(uow.session).upsert(
                key, json.dumps(encoded), updated_at=self._clock.now(), updated_by=updated_by
            )
            uow.after_commit(lambda: self._publish(key, encoded, False, updated_by))
        return typed

    async def clear_override(self, key: str, *, updated_by: str | None = None) -> None:
        self._spec(key)
        async with self._database.unit_of_work() as uow:
            await ConfigOverrideRepository(uow.session).delete(key)
            uow.after_commit(lambda: self._publish(key, None, True, updated_by))

    async def on_changed(self, message: BusMessage) -> None:
        raw = json.loads(message.data)
        key = raw.get("key")
        if key not in self._keys:
            log.warning("config_change_for_unknown_key_ignored", key=key)
            return
        self._remember(key, raw.get("value"), cleared=bool(raw.get("cleared")))

    def _remember(self, key: str, encoded: Any, *, cleared: bool) -> None:
        spec = self._keys[key]
        if cleared:
            self._overrides.pop(key, None)
        else:
            self._overrides[key] = spec.adapter.validate_python(encoded)
        if spec.apply is not None:
            spec.apply(self.get(key))
        log.info("config_applied", key=key, source="settings" if cleared else "override")

    def _publish(self, key: str, value: Any, cleared: bool, by: str | None) -> Awaitable[None]:
        event = ConfigChanged(key, value, cleared, by, self._clock.now_ms())
        return self._bus.publish(config_changed_topic(), json.dumps(event.to_dict()).encode())

    def _spec(self, key: str) -> ConfigKey:
        try:
            return self._keys[key]
        except KeyError as e:
            raise UnknownConfigKeyError(
                f"config key must be one of {sorted(self._keys)}; received {key!r}"
            ) from e
