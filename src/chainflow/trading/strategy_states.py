"""The bar-close strategies of the tenants this process serves, and their saved form.

One ``ModelStrategy`` per (tenant, symbol, timeframe), with what the service did with it
last: the stable action, the action issued after the risk checks and the last bar run. The
tick path previews the same strategy on every tick of the forming bar.

The states are saved with the tenant's paper book, in the same document
(``PaperStore``): the replica that takes a tenant's partition, or the process after a
restart, continues each key where the book stood, and a prediction at or before the key's
last bar (a redelivery) is ignored. The book and the strategies are saved together, so
they never disagree about which predictions were run.

A saved state is kept as data until its key is first used here (``state_for``), where the
tenant's current preferences are known; saving before that writes it back unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from chainflow.trading.decision.hysteresis import ACTIONS
from chainflow.trading.decision.strategy import ModelStrategy
from chainflow.trading.decision.synthesis import Action, TradingPreferences
from chainflow.trading.errors import InvalidTradingStateError

Key = tuple[str, str, str]  # tenant, symbol, timeframe
SavedState = Mapping[str, Any]


@dataclass(slots=True)
class StrategyState:
    """One key's strategy, and what the service did with it last."""

    strategy: ModelStrategy
    action: Action = "hold"  # the strategy's last stable decision
    issued: Action = "hold"  # the action of the last signal issued (after risk)
    last_ts: int | None = None

    def saved(self) -> tuple[dict[str, Any], Action, Action, int | None]:
        """Return what ``put_back`` needs to undo the steps that follow."""
        return self.strategy.snapshot(), self.action, self.issued, self.last_ts

    def put_back(self, saved: tuple[dict[str, Any], Action, Action, int | None]) -> None:
        """Return to the state ``saved`` returned (a bar whose run failed midway)."""
        snapshot, self.action, self.issued, self.last_ts = saved
        self.strategy.restore(snapshot)


class StrategyStates:
    """Every key's strategy state in this process; see the module doc."""

    def __init__(self) -> None:
        self._keys: dict[Key, StrategyState] = {}
        self._saved: dict[Key, SavedState] = {}  # loaded, not yet used here

    def get(self, key: Key) -> StrategyState | None:
        return self._keys.get(key)

    def state_for(self, key: Key, preferences: TradingPreferences) -> StrategyState:
        """Return the key's state, made on first use (from its saved state, if any); a
        change of preferences keeps the stabilizer's state."""
        state = self._keys.get(key)
        if state is None:
            state = StrategyState(ModelStrategy(preferences))
            saved = self._saved.pop(key, None)
            if saved is not None:
                _restore(state, saved)
            self._keys[key] = state
        elif state.strategy.preferences != preferences:  # changed in the API: keep state
            kept = state.strategy.snapshot()
            state.strategy = ModelStrategy(preferences)
            state.strategy.restore(kept)
        return state

    def dump(self, tenant_id: str) -> list[dict[str, Any]]:
        """Return the tenant's states as JSON-ready data (one item per key)."""
        items = [
            {
                "symbol": symbol,
                "timeframe": timeframe,
                "strategy": state.strategy.snapshot(),
                "action": state.action,
                "issued": state.issued,
                "last_ts": state.last_ts,
            }
            for (tenant, symbol, timeframe), state in self._keys.items()
            if tenant == tenant_id
        ]
        items.extend(
            dict(saved) for (tenant, _, _), saved in self._saved.items() if tenant == tenant_id
        )
        return sorted(items, key=lambda item: (item["symbol"], item["timeframe"]))

    def load(self, tenant_id: str, items: Sequence[SavedState]) -> None:
        """Keep the tenant's saved states for their keys' first use here; a key already in
        use keeps its live state. Raise ``InvalidTradingStateError`` if malformed."""
        checked: dict[Key, SavedState] = {}
        for item in items:
            _check(item)
            checked[(tenant_id, item["symbol"], item["timeframe"])] = item
        for key, item in checked.items():
            if key not in self._keys:
                self._saved[key] = item

    def tenants(self) -> set[str]:
        """Return the tenants with a state here (in use or loaded)."""
        return {key[0] for key in (*self._keys, *self._saved)}

    def forget(self, tenants: Iterable[str]) -> None:
        """Drop every state of ``tenants`` (their partition went to another replica)."""
        gone = set(tenants)
        for store in (self._keys, self._saved):
            for key in [key for key in store if key[0] in gone]:
                del store[key]


def _check(item: SavedState) -> None:
    try:
        valid = (
            isinstance(item["symbol"], str)
            and isinstance(item["timeframe"], str)
            and isinstance(item["strategy"], dict)
            and item["action"] in ACTIONS
            and item["issued"] in ACTIONS
            and (item["last_ts"] is None or isinstance(item["last_ts"], int))
        )
    except (KeyError, TypeError) as exc:
        raise InvalidTradingStateError(
            f"expected a saved strategy state; received {exc!r}"
        ) from None
    if not valid:
        raise InvalidTradingStateError(f"expected a saved strategy state; received {item!r}")


def _restore(state: StrategyState, saved: SavedState) -> None:
    state.strategy.restore(dict(saved["strategy"]))
    state.action = cast(Action, saved["action"])
    state.issued = cast(Action, saved["issued"])
    state.last_ts = saved["last_ts"]
