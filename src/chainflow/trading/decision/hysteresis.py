"""Signal stabilization: raw decisions per symbol become signals that do not flip-flop.

The stable action of a symbol is the position the signals ask for: ``buy`` (long),
``sell`` (short) or ``hold`` (flat).

- **Entering** (or reversing) needs a raw ``buy``/``sell``, i.e. the full entry bar of
  ``synthesize``.
- **Staying** in a position needs only the edge toward it (``p(up) - p(down)`` for a long,
  its negative for a short) to reach ``exit_edge``; below it, or when a gate (anomaly,
  symbol not allowed) forced the raw hold, the signal exits to ``hold``.
- **Cooldown.** After a change of the stable action, the next change waits until
  ``cooldown_bars`` bars *and* ``cooldown_ms`` milliseconds have passed. Bars are counted
  as distinct, increasing ``ts`` values of the symbol's decisions, so time comes from the
  input and never from the wall clock. A change the cooldown stops is reported as a reason
  on the signal that is kept. An exit forced by a gate is never held back: the cooldown
  damps noise, not the tenant's own rules (the next entry waits for the cooldown again).

``snapshot()`` returns JSON-ready state; ``restore()`` continues exactly where it stopped.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from chainflow.trading.decision.synthesis import Action, Decision
from chainflow.trading.errors import (
    InvalidDecisionInputError,
    InvalidStrategySettingsError,
    InvalidTradingStateError,
)

SNAPSHOT_VERSION = 1
ACTIONS: tuple[str, ...] = ("buy", "sell", "hold")


@dataclass(frozen=True, slots=True)
class StabilizerSettings:
    """How much a signal resists change; ``exit_edge`` should sit below the entry edge."""

    cooldown_bars: int = 3
    exit_edge: float = 0.10
    cooldown_ms: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.cooldown_bars, bool) or not isinstance(self.cooldown_bars, int):
            raise InvalidStrategySettingsError(
                f"expected cooldown_bars an int; received {self.cooldown_bars!r}"
            )
        if self.cooldown_bars < 0:
            raise InvalidStrategySettingsError(
                f"expected cooldown_bars >= 0; received {self.cooldown_bars}"
            )
        if isinstance(self.cooldown_ms, bool) or not isinstance(self.cooldown_ms, int):
            raise InvalidStrategySettingsError(
                f"expected cooldown_ms an int; received {self.cooldown_ms!r}"
            )
        if self.cooldown_ms < 0:
            raise InvalidStrategySettingsError(
                f"expected cooldown_ms >= 0; received {self.cooldown_ms}"
            )
        if not (math.isfinite(self.exit_edge) and 0.0 <= self.exit_edge <= 1.0):
            raise InvalidStrategySettingsError(
                f"expected exit_edge in [0, 1]; received {self.exit_edge!r}"
            )


@dataclass(slots=True)
class SymbolSignalState:
    """The stable action of one symbol and when it last changed."""

    action: Action = "hold"
    last_ts: int | None = None
    bar_index: int = 0
    change_bar_index: int | None = None
    change_ts: int | None = None


class SignalStabilizer:
    """Turn each symbol's raw decisions into stable signals (hysteresis and cooldown)."""

    def __init__(self, settings: StabilizerSettings | None = None) -> None:
        self.settings = settings or StabilizerSettings()
        self.states: dict[str, SymbolSignalState] = {}

    def reset(self) -> None:
        """Forget every symbol's state."""
        self.states.clear()

    def saved(self, symbol: str) -> SymbolSignalState | None:
        """Return a copy of ``symbol``'s state (None when never seen) for ``put_back``."""
        state = self.states.get(symbol)
        return None if state is None else copy.copy(state)

    def put_back(self, symbol: str, saved: SymbolSignalState | None) -> None:
        """Return ``symbol``'s state to what ``saved(symbol)`` returned (a preview's undo)."""
        if saved is None:
            self.states.pop(symbol, None)
        else:
            self.states[symbol] = saved

    def current_action(self, symbol: str) -> Action:
        """Return the stable action of ``symbol`` (``hold`` when never seen)."""
        state = self.states.get(symbol)
        return "hold" if state is None else state.action

    def update(self, raw: Decision, position: Action | None = None) -> Decision:
        """Return the stable signal for ``raw``.

        ``position`` is the side actually held (``buy`` long, ``sell`` short, ``hold``
        flat), e.g. after a stop-loss closed it; ``None`` assumes the last signal was
        followed. A position that differs from the stable action replaces it without
        counting as a change.
        """
        if position is not None and position not in ACTIONS:
            raise InvalidDecisionInputError(
                f"expected position one of {ACTIONS} or None; received {position!r}"
            )
        state = self.states.setdefault(raw.symbol, SymbolSignalState())
        self._advance(state, raw)
        if position is not None:
            state.action = position
        current = state.action
        target, transition_reason = self._target(current, raw)
        if target == current:
            return self._signal(current, raw, transition_reason)
        # A gate (anomalous features, a symbol no longer allowed) exits at once: the cooldown
        # damps noise, it must not keep a position the tenant's own rules now forbid.
        forced_exit = target == "hold" and raw.gate is not None
        blocked = None if forced_exit else self._cooldown_left(state, raw.ts)
        if blocked:
            wanted = target if transition_reason is None else f"{target} ({transition_reason})"
            return self._signal(
                current,
                raw,
                f"held {current}: cooldown {blocked} after the last change; wanted {wanted}",
            )
        state.action = target
        state.change_bar_index = state.bar_index
        state.change_ts = raw.ts
        return self._signal(target, raw, transition_reason)

    def _advance(self, state: SymbolSignalState, raw: Decision) -> None:
        if state.last_ts is not None and raw.ts < state.last_ts:
            raise InvalidDecisionInputError(
                f"expected ts >= {state.last_ts} for {raw.symbol}; received {raw.ts}"
            )
        if state.last_ts is not None and raw.ts > state.last_ts:
            state.bar_index += 1
        state.last_ts = raw.ts

    def _target(self, current: Action, raw: Decision) -> tuple[Action, str | None]:
        if raw.action != "hold" or current == "hold":
            return raw.action, None
        if raw.gate is not None:
            return "hold", f"exit {current}: gate {raw.gate}"
        edge_toward = raw.edge if current == "buy" else -raw.edge
        threshold = self.settings.exit_edge
        if edge_toward >= threshold:
            return current, f"kept {current}: edge {edge_toward:.2f} ≥ exit {threshold:.2f}"
        return "hold", f"exit {current}: edge {edge_toward:.2f} < exit {threshold:.2f}"

    def _cooldown_left(self, state: SymbolSignalState, ts: int) -> str | None:
        if state.change_bar_index is None or state.change_ts is None:
            return None
        bars_left = self.settings.cooldown_bars - (state.bar_index - state.change_bar_index)
        ms_left = self.settings.cooldown_ms - (ts - state.change_ts)
        parts = []
        if bars_left > 0:
            parts.append(f"{bars_left} bar{'s' if bars_left != 1 else ''}")
        if ms_left > 0:
            parts.append(f"{ms_left} ms")
        return " and ".join(parts) + " left" if parts else None

    @staticmethod
    def _signal(action: Action, raw: Decision, reason: str | None) -> Decision:
        reasons = raw.reasons if reason is None else (*raw.reasons, reason)
        if action == raw.action:
            return replace(raw, reasons=reasons)
        leans: Action = "buy" if raw.edge > 0 else "sell" if raw.edge < 0 else "hold"
        if action == "hold":
            confidence = raw.confidence
        else:
            confidence = raw.confidence if leans == action and raw.gate is None else 0.0
        return replace(raw, action=action, confidence=confidence, reasons=reasons)

    def snapshot(self) -> dict[str, Any]:
        """Return the settings and every symbol's state as JSON-ready data."""
        return {
            "version": SNAPSHOT_VERSION,
            "settings": asdict(self.settings),
            "symbols": {symbol: asdict(state) for symbol, state in sorted(self.states.items())},
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Replace the state with ``snapshot``; its settings must equal this stabilizer's."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise InvalidTradingStateError(
                f"expected snapshot version {SNAPSHOT_VERSION}; "
                f"received {snapshot.get('version')!r}"
            )
        settings = StabilizerSettings(**snapshot["settings"])
        if settings != self.settings:
            raise InvalidTradingStateError(
                f"expected snapshot settings {self.settings}; received {settings}"
            )
        states: dict[str, SymbolSignalState] = {}
        for symbol, data in snapshot["symbols"].items():
            state = SymbolSignalState(**data)
            if state.action not in ACTIONS:
                raise InvalidTradingStateError(
                    f"expected action one of {ACTIONS} for {symbol}; received {state.action!r}"
                )
            states[symbol] = state
        self.states = states
