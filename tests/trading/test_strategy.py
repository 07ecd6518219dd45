"""ModelStrategy: synthesize + SignalStabilizer behind the one Strategy interface."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainflow.trading.decision.hysteresis import StabilizerSettings
from chainflow.trading.decision.strategy import ModelStrategy, Strategy, StrategyContext
from chainflow.trading.decision.synthesis import (
    DecisionInput,
    DecisionThresholds,
    TradingPreferences,
)

BAR_MS = 60_000
UPS = [0.52, 0.47, 0.50, 0.20, 0.15, 0.10, 0.12, 0.30, 0.55, 0.50, 0.40, 0.58]


def make_contexts(symbol: str = "EURUSD") -> list[StrategyContext]:
    contexts = []
    for bar, up in enumerate(UPS):
        down = 0.6 - up if up < 0.3 else 0.2
        decision_input = DecisionInput(
            symbol=symbol,
            ts=bar * BAR_MS,
            probabilities=(down, 1.0 - down - up, up),
            model="gbm@3",
            trend="bear" if bar % 5 == 0 else "bull",
            patterns=("engulfing:bullish",) if bar % 3 == 0 else (),
        )
        contexts.append(StrategyContext(decision_input))
    return contexts


def make_strategy() -> ModelStrategy:
    return ModelStrategy(
        TradingPreferences("moderate"),
        stabilizer_settings=StabilizerSettings(cooldown_bars=2, exit_edge=0.1),
    )


class TestModelStrategy:
    def test_is_a_strategy(self) -> None:
        strategy: Strategy = make_strategy()
        assert strategy.name == "model"

    def test_same_sequence_gives_identical_decisions(self) -> None:
        first_strategy, second_strategy = make_strategy(), make_strategy()
        first = [first_strategy.on_bar(c) for c in make_contexts()]
        second = [second_strategy.on_bar(c) for c in make_contexts()]
        assert first == second
        assert {d.action for d in first} == {"buy", "sell", "hold"}

    def test_decisions_follow_synthesis_and_stabilization(self) -> None:
        strategy = make_strategy()
        decisions = [strategy.on_bar(c) for c in make_contexts()]
        assert [d.action for d in decisions] == [
            "hold",
            "buy",
            "buy",
            "hold",
            "hold",
            "sell",
            "sell",
            "hold",
            "hold",
            "buy",
            "buy",
            "buy",
        ]
        assert decisions[0].reasons[-1] == "confidence 0.41 < 0.45 (moderate): hold"
        assert decisions[6].reasons[-1] == "kept sell: edge 0.36 ≥ exit 0.10"
        assert decisions[8].reasons[-1] == (
            "held hold: cooldown 1 bar left after the last change; wanted buy"
        )
        assert decisions[10].reasons[-1] == "kept buy: edge 0.20 ≥ exit 0.10"

    def test_snapshot_and_restore_continue_identically(self) -> None:
        contexts = make_contexts()
        reference = make_strategy()
        expected = [reference.on_bar(c) for c in contexts]
        first = make_strategy()
        head = [first.on_bar(c) for c in contexts[:5]]
        second = make_strategy()
        second.restore(json.loads(json.dumps(first.snapshot())))
        assert head + [second.on_bar(c) for c in contexts[5:]] == expected

    def test_preview_decides_as_on_bar_and_leaves_the_state_as_it_was(self) -> None:
        previewing, plain = make_strategy(), make_strategy()
        for context, other in zip(make_contexts(), make_contexts("GBPUSD"), strict=True):
            before = json.dumps(previewing.snapshot(), sort_keys=True)
            for seen in (context, other, context):  # the forming bar's ticks, two symbols
                wanted = make_strategy()
                wanted.restore(json.loads(before))
                assert previewing.preview(seen) == wanted.on_bar(seen)
                assert json.dumps(previewing.snapshot(), sort_keys=True) == before
            assert previewing.on_bar(context) == plain.on_bar(context)
        assert previewing.snapshot() == plain.snapshot()

    def test_restore_of_another_strategy_is_rejected(self) -> None:
        snapshot = {**make_strategy().snapshot(), "name": "other"}
        with pytest.raises(ValueError, match="expected a snapshot of strategy 'model'"):
            make_strategy().restore(snapshot)

    def test_position_from_context_drives_hysteresis(self) -> None:
        strategy = make_strategy()
        contexts = make_contexts()
        assert strategy.on_bar(contexts[1]).action == "buy"
        # A stop-loss closed the long: re-entry waits for the cooldown.
        stopped_out = StrategyContext(contexts[2].decision_input, position=0.0)
        decision = strategy.on_bar(stopped_out)
        assert decision.action == "hold"
        assert decision.reasons[-1].startswith("held hold: cooldown 1 bar left")

    def test_exit_edge_above_entry_edge_is_rejected(self) -> None:
        with pytest.raises(ValueError, match=r"expected exit_edge <= min_edge 0.15"):
            ModelStrategy(
                TradingPreferences("aggressive"),
                stabilizer_settings=StabilizerSettings(exit_edge=0.2),
            )

    def test_explicit_thresholds_are_used(self) -> None:
        thresholds = DecisionThresholds("moderate", min_edge=0.9, min_confidence=0.9)
        strategy = ModelStrategy(TradingPreferences("moderate"), thresholds)
        assert strategy.on_bar(make_contexts()[2]).action == "hold"


class TestStrategyContext:
    @pytest.mark.parametrize(
        ("position", "side"), [(None, None), (0.0, "hold"), (0.1, "buy"), (-2.0, "sell")]
    )
    def test_position_side(self, position: float | None, side: str | None) -> None:
        context = StrategyContext(make_contexts()[0].decision_input, position)
        assert context.position_side == side

    def test_non_finite_position_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="expected a finite position"):
            StrategyContext(make_contexts()[0].decision_input, float("nan"))


probability_rows = st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.01, 1.0))


class TestProperties:
    @given(st.lists(probability_rows, max_size=40), st.booleans())
    def test_two_runs_on_the_same_sequence_are_identical(
        self, rows: list[tuple[float, float, float]], flip_trend: bool
    ) -> None:
        contexts = []
        for bar, row in enumerate(rows):
            total = sum(row)
            probabilities = (row[0] / total, row[1] / total, row[2] / total)
            decision_input = DecisionInput(
                "EURUSD",
                bar * BAR_MS,
                probabilities,
                "gbm@3",
                trend="bear" if flip_trend and bar % 2 else "bull",
            )
            contexts.append(StrategyContext(decision_input))
        first, second = make_strategy(), make_strategy()
        assert [first.on_bar(c) for c in contexts] == [second.on_bar(c) for c in contexts]
