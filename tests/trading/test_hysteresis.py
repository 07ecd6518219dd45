"""SignalStabilizer: hysteresis between entry and exit, cooldown, snapshot and restore."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainflow.trading.decision.hysteresis import SignalStabilizer, StabilizerSettings
from chainflow.trading.decision.synthesis import (
    Decision,
    DecisionInput,
    TradingPreferences,
    synthesize,
)

BAR_MS = 60_000


def make_raw(
    bar: int,
    action: str = "hold",
    edge: float = 0.0,
    confidence: float = 0.5,
    gate: str | None = None,
    symbol: str = "EURUSD",
) -> Decision:
    return Decision(
        symbol=symbol,
        ts=bar * BAR_MS,
        model="gbm@3",
        action=action,  # type: ignore[arg-type]
        confidence=confidence,
        edge=edge,
        reasons=(f"raw {action}",),
        gate=gate,  # type: ignore[arg-type]
    )


def actions(stabilizer: SignalStabilizer, raws: list[Decision]) -> list[str]:
    return [stabilizer.update(raw).action for raw in raws]


class TestHysteresis:
    def test_noisy_edge_around_the_entry_threshold_enters_once(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=0, exit_edge=0.10))
        preferences = TradingPreferences("moderate")  # entry edge 0.25
        ups = [0.50, 0.48, 0.51, 0.46, 0.50, 0.47, 0.52, 0.45]
        raws = [
            synthesize(
                DecisionInput("EURUSD", bar * BAR_MS, (0.25, 0.75 - up, up), "gbm@3"),
                preferences,
            )
            for bar, up in enumerate(ups)
        ]
        raw_actions = [raw.action for raw in raws]
        assert raw_actions == ["buy", "hold"] * 4  # the raw decisions flip-flop
        signals = [stabilizer.update(raw) for raw in raws]
        assert [s.action for s in signals] == ["buy"] * 8
        assert signals[1].reasons[-1] == "kept buy: edge 0.23 ≥ exit 0.10"
        assert signals[1].confidence == pytest.approx(0.48)

    def test_edge_below_exit_threshold_exits(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=0, exit_edge=0.10))
        stabilizer.update(make_raw(0, "buy", 0.3))
        signal = stabilizer.update(make_raw(1, "hold", 0.05, confidence=0.4))
        assert signal.action == "hold"
        assert signal.reasons[-1] == "exit buy: edge 0.05 < exit 0.10"

    def test_short_is_kept_on_negative_edge(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=0, exit_edge=0.10))
        stabilizer.update(make_raw(0, "sell", -0.3))
        assert stabilizer.update(make_raw(1, "hold", -0.15)).action == "sell"
        assert stabilizer.update(make_raw(2, "hold", 0.15)).action == "hold"

    def test_gate_exits_regardless_of_edge(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=0))
        stabilizer.update(make_raw(0, "buy", 0.3))
        signal = stabilizer.update(make_raw(1, "hold", 0.3, confidence=0.0, gate="anomaly"))
        assert signal.action == "hold"
        assert signal.reasons[-1] == "exit buy: gate anomaly"

    def test_hold_without_position_needs_the_full_entry(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=0))
        assert stabilizer.update(make_raw(0, "hold", 0.2)).action == "hold"

    def test_position_overrides_the_remembered_action(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=2))
        stabilizer.update(make_raw(0, "buy", 0.3))
        # A stop-loss closed the long: a hold with some edge does not re-enter.
        assert stabilizer.update(make_raw(1, "hold", 0.2), position="hold").action == "hold"
        assert stabilizer.current_action("EURUSD") == "hold"
        # Re-entry still waits for the cooldown of the last change (bar 0).
        blocked = stabilizer.update(make_raw(1, "buy", 0.3), position="hold")
        assert blocked.action == "hold"
        assert blocked.reasons[-1].startswith("held hold: cooldown 1 bar left")
        assert stabilizer.update(make_raw(2, "buy", 0.3), position="hold").action == "buy"

    def test_symbols_are_independent(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=3))
        assert stabilizer.update(make_raw(0, "buy", 0.3)).action == "buy"
        assert stabilizer.update(make_raw(1, "sell", -0.3, symbol="GBPUSD")).action == "sell"


class TestCooldown:
    def test_reversal_blocked_for_n_bars_then_allowed(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=3))
        assert stabilizer.update(make_raw(0, "buy", 0.3)).action == "buy"
        first = stabilizer.update(make_raw(1, "sell", -0.3, confidence=0.6))
        assert first.action == "buy"
        assert first.confidence == 0.0  # the model leans to sell
        assert first.reasons[-1] == (
            "held buy: cooldown 2 bars left after the last change; wanted sell"
        )
        second = stabilizer.update(make_raw(2, "sell", -0.3))
        assert second.reasons[-1].startswith("held buy: cooldown 1 bar left")
        third = stabilizer.update(make_raw(3, "sell", -0.3, confidence=0.6))
        assert third.action == "sell"
        assert third.confidence == 0.6
        assert third.reasons == ("raw sell",)

    def test_blocked_exit_names_why_it_wanted_out(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=2, exit_edge=0.1))
        stabilizer.update(make_raw(0, "buy", 0.3))
        signal = stabilizer.update(make_raw(1, "hold", 0.0))
        assert signal.action == "buy"
        assert signal.reasons[-1] == (
            "held buy: cooldown 1 bar left after the last change; "
            "wanted hold (exit buy: edge 0.00 < exit 0.10)"
        )

    def test_repeated_ts_is_one_bar(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=1))
        stabilizer.update(make_raw(0, "buy", 0.3))
        assert stabilizer.update(make_raw(0, "sell", -0.3)).action == "buy"
        assert stabilizer.update(make_raw(1, "sell", -0.3)).action == "sell"

    def test_millisecond_cooldown(self) -> None:
        settings = StabilizerSettings(cooldown_bars=0, cooldown_ms=2 * BAR_MS)
        stabilizer = SignalStabilizer(settings)
        stabilizer.update(make_raw(0, "buy", 0.3))
        held = stabilizer.update(make_raw(1, "sell", -0.3))
        assert held.action == "buy"
        assert held.reasons[-1].startswith("held buy: cooldown 60000 ms left")
        assert stabilizer.update(make_raw(2, "sell", -0.3)).action == "sell"

    def test_ts_going_back_is_rejected(self) -> None:
        stabilizer = SignalStabilizer()
        stabilizer.update(make_raw(5, "buy", 0.3))
        with pytest.raises(ValueError, match="expected ts >= 300000 for EURUSD; received 240000"):
            stabilizer.update(make_raw(4, "buy", 0.3))

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"cooldown_bars": -1}, "expected cooldown_bars >= 0"),
            ({"cooldown_ms": 1.5}, "expected cooldown_ms an int"),
            ({"exit_edge": 2.0}, "expected exit_edge in"),
        ],
    )
    def test_bad_settings_are_rejected(self, fields: dict[str, object], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            StabilizerSettings(**fields)  # type: ignore[arg-type]


SEQUENCE = [
    make_raw(0, "buy", 0.3),
    make_raw(1, "hold", 0.2),
    make_raw(2, "sell", -0.4),
    make_raw(3, "sell", -0.4, symbol="GBPUSD"),
    make_raw(4, "sell", -0.4),
    make_raw(5, "hold", 0.0),
    make_raw(6, "buy", 0.35),
    make_raw(7, "hold", 0.12),
    make_raw(8, "hold", 0.05),
]


class TestSnapshot:
    def test_restore_continues_identically(self) -> None:
        settings = StabilizerSettings(cooldown_bars=2, exit_edge=0.1, cooldown_ms=1)
        reference = SignalStabilizer(settings)
        expected = [reference.update(raw) for raw in SEQUENCE]
        for cut in range(len(SEQUENCE) + 1):
            first = SignalStabilizer(settings)
            head = [first.update(raw) for raw in SEQUENCE[:cut]]
            second = SignalStabilizer(settings)
            second.restore(json.loads(json.dumps(first.snapshot())))
            tail = [second.update(raw) for raw in SEQUENCE[cut:]]
            assert head + tail == expected

    def test_restore_with_other_settings_is_rejected(self) -> None:
        snapshot = SignalStabilizer(StabilizerSettings(cooldown_bars=2)).snapshot()
        with pytest.raises(ValueError, match="expected snapshot settings"):
            SignalStabilizer(StabilizerSettings(cooldown_bars=3)).restore(snapshot)

    def test_restore_with_other_version_is_rejected(self) -> None:
        snapshot = {**SignalStabilizer().snapshot(), "version": 99}
        with pytest.raises(ValueError, match="expected snapshot version 1; received 99"):
            SignalStabilizer().restore(snapshot)


raw_steps = st.tuples(
    st.sampled_from(["buy", "sell", "hold"]),
    st.floats(-1.0, 1.0),
    st.sampled_from([None, None, None, "anomaly"]),
)


class TestGates:
    def test_a_gate_exits_at_once_despite_the_cooldown(self) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars=5, exit_edge=0.1))
        stabilizer.update(make_raw(0, "buy", 0.3))
        signal = stabilizer.update(make_raw(1, "hold", 0.3, gate="anomaly"))
        assert signal.action == "hold"
        assert signal.reasons[-1] == "exit buy: gate anomaly"
        # ...and the re-entry waits for the cooldown counted from that exit
        assert stabilizer.update(make_raw(2, "buy", 0.3)).action == "hold"


class TestProperties:
    @given(st.integers(0, 5), st.floats(0.0, 0.5), st.lists(raw_steps, max_size=60))
    def test_at_most_one_change_per_cooldown_window(
        self, cooldown_bars: int, exit_edge: float, steps: list[tuple[str, float, str | None]]
    ) -> None:
        stabilizer = SignalStabilizer(StabilizerSettings(cooldown_bars, exit_edge))
        previous = "hold"
        change_bars: list[int] = []
        for bar, (action, edge, gate) in enumerate(steps):
            if gate is not None:
                action = "hold"
            signal = stabilizer.update(make_raw(bar, action, edge, gate=gate))
            if signal.action != previous and gate is None:  # gates exit at once (by design)
                change_bars.append(bar)
            elif signal.action != previous:
                change_bars = [bar]  # a forced exit restarts the window
            previous = signal.action
            assert 0.0 <= signal.confidence <= 1.0
        gaps = [b - a for a, b in zip(change_bars, change_bars[1:], strict=False)]
        assert all(gap >= cooldown_bars for gap in gaps)
