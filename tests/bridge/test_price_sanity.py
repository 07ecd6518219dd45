"""Absurd prices never enter the books: absolute bounds, bands, new symbols, regime changes."""

import math
import random

import pytest

from chainflow.bridge.price_bands import KNOWN_PRICE_BANDS, PriceBand, price_band_of
from chainflow.bridge.price_sanity import HoldReason
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.tick_message import RejectCode, Rejection
from chainflow.bridge.validation import Accepted, TickValidator, ValidationConfig
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import ConfigurationError
from chainflow.core.market import Tick
from chainflow.core.settings import BridgeSettings

NOW = 1_700_000_000_000
START = NOW - 3_600_000
DAY_MS = 86_400_000


def make_validator(config: ValidationConfig | None = None, now: int = NOW) -> TickValidator:
    return TickValidator(config or ValidationConfig(), SimulatedClock(now), SymbolNormalizer())


def quote(symbol: str, ts: int, mid: float, relative_spread: float = 1e-4) -> Tick:
    half = mid * relative_spread / 2
    return Tick(symbol, ts, mid - half, mid + half, 1.0)


def outcome(result: Accepted | Rejection) -> str:
    return "accepted" if isinstance(result, Accepted) else result.code.value


def warm_up(validator: TickValidator, symbol: str, level: float, count: int = 100) -> int:
    """Feed an accepted random walk around ``level`` every 100 ms; return the last ts."""
    rng = random.Random(5)
    mid = level
    ts = START
    for i in range(count):
        ts = START + i * 100
        mid *= 1.0 + rng.gauss(0.0, 1e-4)
        assert isinstance(validator.validate(quote(symbol, ts, mid)), Accepted)
    return ts


ABSURD_FIRST_TICKS = [
    pytest.param(1e-300, 1e-300, id="1e-300"),
    pytest.param(1e300, 1e300, id="1e300"),
    pytest.param(5e-324, 5e-324, id="5e-324"),
    pytest.param(1e-9, 1e9, id="bid 1e-9 ask 1e9"),
    pytest.param(1e-300, 1e300, id="bid 1e-300 ask 1e300"),
    pytest.param(2e7, 2e7, id="above max_price"),
]


class TestAbsoluteSanity:
    @pytest.mark.parametrize("symbol", ["EURUSD", "NEWCOIN"])
    @pytest.mark.parametrize(("bid", "ask"), ABSURD_FIRST_TICKS)
    def test_absurd_first_tick_is_refused_and_not_held(
        self, symbol: str, bid: float, ask: float
    ) -> None:
        validator = make_validator()
        result = validator.validate(Tick(symbol, START, bid, ask, 1.0), 1)
        assert isinstance(result, Rejection)
        assert result.code is RejectCode.PRICE_OUT_OF_RANGE
        assert "expected prices within [1e-06, 1e+07]" in result.message
        assert "received" in result.message
        assert validator.stats.accepted == 0
        assert not validator.take_quarantine_changes()

    def test_wide_relative_spread_is_refused_on_the_first_tick(self) -> None:
        validator = make_validator()
        result = validator.validate(Tick("EURUSD", START, 1.0, 1.2, 1.0))  # 18 % of the mid
        assert isinstance(result, Rejection) and result.code is RejectCode.SPREAD_OUTLIER
        assert "at most 10.00% of the mid; received 18.18%" in result.message
        assert isinstance(validator.validate(Tick("EURUSD", START, 1.0, 1.09, 1.0)), Accepted)

    def test_bounds_come_from_the_config(self) -> None:
        config = ValidationConfig(min_price=1e-3, max_price=10.0, max_relative_spread=0.01)
        validator = make_validator(config)
        assert outcome(validator.validate(quote("EURUSD", START, 11.0))) == "price_out_of_range"
        assert outcome(validator.validate(Tick("AB", START, 5e-4, 6e-4))) == "price_out_of_range"
        wide = Tick("EURUSD", START, 1.0, 1.02)
        assert outcome(validator.validate(wide)) == "spread_outlier"

    @pytest.mark.parametrize(
        "changes",
        [
            {"min_price": 0.0},
            {"min_price": 1.0, "max_price": 1.0},
            {"max_price": math.inf},
            {"max_relative_spread": 0.0},
            {"cold_move_limit": 0.0},
            {"new_symbol_ticks": 0},
            {"spike_confirmation_ms": -1},
            {"quarantine_ticks_per_day": -1},
        ],
    )
    def test_bad_values_are_refused(self, changes: dict[str, float]) -> None:
        with pytest.raises(ConfigurationError, match="expected ValidationConfig"):
            ValidationConfig(**changes)  # type: ignore[arg-type]


class TestPriceBands:
    @pytest.mark.parametrize(
        ("symbol", "expected"),
        [
            ("EURUSD", "EURUSD"),
            ("EURUSD.A", "EURUSD"),
            ("EURUSD-ECN", "EURUSD"),
            ("EURUSDM", "EURUSD"),
            ("eurusd.pro", "EURUSD"),
            ("XAUUSD#", "XAUUSD"),
            ("US500-CASH", "US500"),
            ("BTCUSD_PERP", "BTCUSD"),
            ("EURUSDMICROX", None),
            ("ACME", None),
            ("US5000", None),
        ],
    )
    def test_band_of_broker_forms(self, symbol: str, expected: str | None) -> None:
        band = price_band_of(symbol)
        assert band == (KNOWN_PRICE_BANDS[expected] if expected else None)

    def test_the_platforms_sample_prices_lie_in_their_bands(self) -> None:
        samples = {
            "EURUSD": 1.085,
            "GBPUSD": 1.27,
            "USDJPY": 148.5,
            "AUDUSD": 0.66,
            "USDCHF": 0.88,
            "XAUUSD": 2000.0,
            "BTCUSD": 60_000.0,
        }
        for symbol, price in samples.items():
            assert KNOWN_PRICE_BANDS[symbol].contains(price), symbol

    @pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (2.0, 1.0), (1.0, math.inf)])
    def test_bad_band_is_refused(self, low: float, high: float) -> None:
        with pytest.raises(ValueError, match="expected"):
            PriceBand(low, high)

    def test_known_symbol_is_checked_against_its_band_from_the_first_tick(self) -> None:
        validator = make_validator()
        result = validator.validate(quote("EURUSD", START, 10.9), 7)
        assert isinstance(result, Rejection) and result.code is RejectCode.QUARANTINED
        assert "within its band [0.5, 2.5]; received 10.9" in result.message
        (held,) = validator.take_quarantine_changes().held
        assert (held.tick.symbol, held.reason, held.seq) == ("EURUSD", HoldReason.PRICE_BAND, 7)
        assert isinstance(validator.validate(quote("EURUSD", START + 1, 1.09)), Accepted)

    def test_a_tenfold_jump_of_a_known_symbol_is_never_accepted(self) -> None:
        validator = make_validator()
        ts = warm_up(validator, "EURUSD", 1.09)
        results = [validator.validate(quote("EURUSD", ts + i * 500, 10.9)) for i in range(1, 200)]
        assert {outcome(r) for r in results} == {"quarantined"}  # 100 s at the new level
        reasons = {h.reason for h in validator.take_quarantine_changes().held}
        assert reasons == {HoldReason.PRICE_BAND}


class TestNewSymbolHold:
    def test_first_ticks_are_held_until_they_agree_then_released_together(self) -> None:
        validator = make_validator()
        ticks = [quote("ACME", START + i * 100, 42.0 * (1 + i * 1e-4)) for i in range(6)]
        results = [validator.validate(t, seq) for seq, t in enumerate(ticks, start=1)]
        assert [outcome(r) for r in results] == ["quarantined"] * 4 + ["accepted"] * 2
        assert "expected 5 ticks of the new symbol ACME" in results[0].message  # type: ignore[union-attr]
        changes = validator.take_quarantine_changes()
        assert [(h.tick, h.reason, h.seq) for h in changes.held] == [
            (t, HoldReason.NEW_SYMBOL, seq) for seq, t in enumerate(ticks[:4], start=1)
        ]
        assert changes.released == ticks[:4]
        assert (validator.stats.accepted, validator.stats.released) == (6, 4)
        snapshot = validator.symbol_snapshot("ACME")
        assert snapshot is not None
        assert (snapshot.last_ts, snapshot.held_ticks) == (ticks[5].ts, 0)
        assert len(snapshot.recent_spreads) == 6 and len(snapshot.recent_returns) == 5
        # A released tick resent is a duplicate, as any accepted one.
        assert outcome(validator.validate(ticks[0])) == "duplicate"

    def test_disagreeing_ticks_stay_held_and_only_the_agreeing_window_is_released(self) -> None:
        validator = make_validator()
        mids = [42.0, 4200.0, 0.42, 42.1, 42.2, 42.0, 42.1, 42.05]
        results = [
            validator.validate(quote("ACME", START + i * 100, m)) for i, m in enumerate(mids)
        ]
        assert [outcome(r) for r in results] == ["quarantined"] * 7 + ["accepted"]
        changes = validator.take_quarantine_changes()
        assert len(changes.held) == 7
        assert [t.bid + t.ask for t in changes.released] == pytest.approx(
            [2 * m for m in mids[3:7]]
        )

    def test_a_held_tick_resent_is_a_duplicate_and_not_held_twice(self) -> None:
        validator = make_validator()
        tick = quote("ACME", START, 42.0)
        assert outcome(validator.validate(tick)) == "quarantined"
        assert outcome(validator.validate(tick)) == "duplicate"
        assert len(validator.take_quarantine_changes().held) == 1
        assert validator.symbol_snapshot("ACME").held_ticks == 1  # type: ignore[union-attr]

    def test_one_tick_hold_accepts_a_new_symbols_first_tick(self) -> None:
        validator = make_validator(ValidationConfig(new_symbol_ticks=1))
        assert isinstance(validator.validate(quote("ACME", START, 42.0)), Accepted)

    def test_release_out_of_ts_order_flags_the_current_tick(self) -> None:
        validator = make_validator()
        for i in (1, 2, 3, 4):
            held = validator.validate(quote("ACME", START + i * 100, 42.0 + i * 0.01))
            assert outcome(held) == "quarantined"
        result = validator.validate(quote("ACME", START, 42.0))
        assert isinstance(result, Accepted) and result.out_of_order
        assert validator.symbol_snapshot("ACME").last_ts == START + 400  # type: ignore[union-attr]


def jump_results(
    validator: TickValidator, symbol: str, start_ts: int, level: float, count: int, step_ms: int
) -> list[str]:
    """Validate ``count`` ticks around ``level``, ``step_ms`` apart after ``start_ts``."""
    rng = random.Random(11)
    results = []
    for i in range(1, count + 1):
        mid = level * (1 + rng.gauss(0, 2e-4))
        results.append(outcome(validator.validate(quote(symbol, start_ts + i * step_ms, mid))))
    return results


class TestRegimeChange:
    def test_tenfold_jump_for_30_ticks_within_2_s_stores_nothing(self) -> None:
        validator = make_validator()
        ts = warm_up(validator, "BTCUSD", 30_000.0)
        accepted_before = validator.stats.accepted
        results = jump_results(validator, "BTCUSD", ts, 300_000.0, count=30, step_ms=66)
        assert results == ["quarantined"] * 30
        assert validator.stats.accepted == accepted_before
        held = validator.take_quarantine_changes().held
        assert len(held) == 30 and {h.reason for h in held} == {HoldReason.PRICE_SPIKE}

    def test_tenfold_jump_of_an_unknown_symbol_is_held_too(self) -> None:
        validator = make_validator(ValidationConfig(new_symbol_ticks=1))
        ts = warm_up(validator, "ACME", 42.0)
        assert jump_results(validator, "ACME", ts, 420.0, count=30, step_ms=66) == (
            ["quarantined"] * 30
        )

    def test_a_level_held_past_the_window_is_accepted(self) -> None:
        validator = make_validator()
        ts = warm_up(validator, "BTCUSD", 30_000.0)
        results = jump_results(validator, "BTCUSD", ts, 33_000.0, count=30, step_ms=500)
        # The 21st tick is 10 s after the first one at the new level.
        assert results == ["quarantined"] * 20 + ["accepted"] * 10
        assert len(validator.take_quarantine_changes().held) == 20
        assert validator.symbol_snapshot("BTCUSD").last_mid == pytest.approx(33_000, rel=1e-3)  # type: ignore[union-attr]

    def test_a_level_needs_enough_ticks_as_well_as_time(self) -> None:
        validator = make_validator(ValidationConfig(spike_gap_ms=60_000))
        ts = warm_up(validator, "BTCUSD", 30_000.0)
        results = jump_results(validator, "BTCUSD", ts, 33_000.0, count=6, step_ms=5_000)
        assert results == ["quarantined"] * 4 + ["accepted"] * 2  # 5 ticks over 20 s

    def test_a_tick_at_the_old_level_restarts_the_confirmation(self) -> None:
        validator = make_validator()
        ts = warm_up(validator, "BTCUSD", 30_000.0)
        last_mid = validator.symbol_snapshot("BTCUSD").last_mid  # type: ignore[union-attr]
        assert jump_results(validator, "BTCUSD", ts, 33_000.0, 15, 500) == ["quarantined"] * 15
        old_level = validator.validate(quote("BTCUSD", ts + 8_000, last_mid * 1.0001))
        assert isinstance(old_level, Accepted)
        assert validator.symbol_snapshot("BTCUSD").spike_candidates == 0  # type: ignore[union-attr]
        results = jump_results(validator, "BTCUSD", ts + 8_000, 33_000.0, 22, 500)
        assert results == ["quarantined"] * 20 + ["accepted"] * 2

    def test_a_jump_after_a_feed_gap_is_held_beyond_the_cold_limit(self) -> None:
        validator = make_validator()
        ts = warm_up(validator, "BTCUSD", 30_000.0)
        after_gap = ts + 600_000
        assert outcome(validator.validate(quote("BTCUSD", after_gap, 300_000.0))) == "quarantined"
        assert outcome(validator.validate(quote("BTCUSD", after_gap + 1, 31_500.0))) == "accepted"


class TestQuarantineBudget:
    def test_past_the_daily_budget_ticks_are_refused_without_being_kept(self) -> None:
        clock = SimulatedClock(NOW)
        config = ValidationConfig(quarantine_ticks_per_day=2)
        validator = TickValidator(config, clock, SymbolNormalizer())
        results = [validator.validate(quote("EURUSD", START + i, 10.9)) for i in range(3)]
        assert [outcome(r) for r in results] == ["quarantined"] * 2 + ["price_out_of_range"]
        assert "not kept: the quarantine is full (2 ticks a day)" in results[2].message  # type: ignore[union-attr]
        assert outcome(validator.validate(quote("ACME", START, 42.0))) == "price_spike"
        assert len(validator.take_quarantine_changes().held) == 2
        clock.advance_ms(DAY_MS)  # a new UTC day
        assert outcome(validator.validate(quote("EURUSD", START + 9, 10.9))) == "quarantined"


class TestSettings:
    def test_the_feed_config_follows_the_bridge_settings(self) -> None:
        settings = BridgeSettings(
            min_price=1e-4,
            max_price=1e5,
            max_relative_spread=0.05,
            spike_confirmation_ms=30_000,
            spike_confirmation_ticks=8,
            new_symbol_ticks=3,
            new_symbol_agreement=0.01,
            quarantine_ticks_per_day=10,
        )
        config = ValidationConfig.from_settings(settings, retention_ms=DAY_MS)
        assert (config.retention_ms, config.min_price, config.max_price) == (DAY_MS, 1e-4, 1e5)
        assert (config.max_relative_spread, config.spike_confirmation_ms) == (0.05, 30_000)
        assert (config.spike_confirmation_ticks, config.new_symbol_ticks) == (8, 3)
        assert (config.new_symbol_agreement, config.quarantine_ticks_per_day) == (0.01, 10)

    def test_max_price_must_exceed_min_price(self) -> None:
        with pytest.raises(ValueError, match="MAX_PRICE must exceed"):
            BridgeSettings(min_price=10.0, max_price=10.0)
