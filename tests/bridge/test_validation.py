import math
import random
from collections.abc import Iterable

import pytest

from chainflow.bridge.price_sanity import HoldReason
from chainflow.bridge.symbols import SymbolNormalizer
from chainflow.bridge.tick_message import ParsedTick, RejectCode, Rejection, parse_tick_message
from chainflow.bridge.validation import (
    Accepted,
    SymbolSnapshot,
    TickValidator,
    ValidationConfig,
)
from chainflow.core.clock import SimulatedClock
from chainflow.core.errors import ConfigurationError, InvalidInput
from chainflow.core.market import Tick

NOW = 1_700_000_000_000
START = NOW - 3_600_000
STEP_MS = 100
SPREAD = 0.0001


def make_validator(
    config: ValidationConfig | None = None,
    clock: SimulatedClock | None = None,
    aliases: dict[str, str] | None = None,
) -> TickValidator:
    return TickValidator(
        config or ValidationConfig(), clock or SimulatedClock(NOW), SymbolNormalizer(aliases)
    )


def make_tick(mid: float, ts: int = START, symbol: str = "EURUSD", spread: float = SPREAD) -> Tick:
    return Tick(symbol, ts, mid - spread / 2, mid + spread / 2, 1.0)


def random_walk(count: int, seed: int = 7, start: float = 1.1, sigma: float = 1e-4) -> list[float]:
    rng = random.Random(seed)
    mids = [start]
    for _ in range(count - 1):
        mids.append(mids[-1] * (1.0 + rng.gauss(0.0, sigma)))
    return mids


def feed(
    validator: TickValidator,
    mids: Iterable[float],
    symbol: str = "EURUSD",
    start_ts: int = START,
) -> int:
    """Validate one in-order tick per mid, assert each is accepted; return the last ts."""
    ts = start_ts
    for i, mid in enumerate(mids):
        ts = start_ts + i * STEP_MS
        result = validator.validate(make_tick(mid, ts, symbol))
        assert isinstance(result, Accepted), result
        assert not result.out_of_order
    return ts


def tracked(validator: TickValidator, symbol: str = "EURUSD") -> SymbolSnapshot:
    snapshot = validator.symbol_snapshot(symbol)
    assert snapshot is not None, f"{symbol} is not tracked"
    return snapshot


def assert_rejected_untouched(
    validator: TickValidator, tick: Tick, code: RejectCode, seq: int | None = 9
) -> Rejection:
    before: SymbolSnapshot | None = validator.symbol_snapshot("EURUSD")
    rejected_before = validator.stats.rejected[code]
    accepted_before = validator.stats.accepted
    result = validator.validate(tick, seq)
    assert isinstance(result, Rejection), result
    assert result.code is code
    assert result.seq == seq
    assert "expected" in result.message and "received" in result.message
    assert ", got" not in result.message
    assert validator.symbol_snapshot("EURUSD") == before
    assert validator.stats.rejected[code] == rejected_before + 1
    assert validator.stats.accepted == accepted_before
    return result


@pytest.fixture
def warm() -> tuple[TickValidator, int, float]:
    """A validator warmed on a 100-tick EURUSD random walk: (validator, last ts, last mid)."""
    validator = make_validator()
    mids = random_walk(100)
    return validator, feed(validator, mids), mids[-1]


class TestParseTickMessage:
    def test_valid_item_parses_and_ignores_type(self) -> None:
        raw = {"type": "tick", "symbol": "eurusd", "ts": NOW, "bid": 1, "ask": 1.5, "seq": 42}
        parsed = parse_tick_message(raw)
        assert parsed == ParsedTick(Tick("eurusd", NOW, 1.0, 1.5, 0.0), 42)
        assert isinstance(parsed.tick.bid, float)

    @pytest.mark.parametrize(
        "text",
        [
            "2023-11-14T22:13:20.123Z",
            "2023-11-14T22:13:20.123+00:00",
            "2023-11-14T23:13:20.123+01:00",
            "2023-11-15T05:43:20.123+07:30",
            "2023-11-14T17:13:20.123-05:00",
            "2023-11-14T22:13:20.123999Z",
        ],
    )
    def test_iso_timestamp_with_offset_becomes_epoch_ms_utc(self, text: str) -> None:
        parsed = parse_tick_message({"symbol": "EURUSD", "ts": text, "bid": 1.1, "ask": 1.2})
        assert isinstance(parsed, ParsedTick)
        assert parsed.tick.ts == 1_700_000_000_123

    @pytest.mark.parametrize(
        "ts", ["2023-11-14T22:13:20.123", "yesterday", "", 1.7e12, True, None, [NOW]]
    )
    def test_bad_timestamp_is_invalid_schema(self, ts: object) -> None:
        result = parse_tick_message({"symbol": "EURUSD", "ts": ts, "bid": 1.1, "ask": 1.2})
        assert isinstance(result, Rejection)
        assert result.code is RejectCode.INVALID_SCHEMA
        assert "'ts'" in result.message and "received" in result.message

    @pytest.mark.parametrize("field", ["bid", "ask", "volume"])
    @pytest.mark.parametrize("value", [True, False, "1.1", [1.1]])
    def test_bool_or_text_as_number_is_invalid_schema(self, field: str, value: object) -> None:
        raw = {"symbol": "EURUSD", "ts": NOW, "bid": 1.1, "ask": 1.2, "seq": 3, field: value}
        result = parse_tick_message(raw)
        assert isinstance(result, Rejection)
        assert result.code is RejectCode.INVALID_SCHEMA
        assert result.seq == 3
        assert f"expected {field!r} to be a number; received {type(value).__name__}" in (
            result.message
        )

    def test_missing_field_says_so(self) -> None:
        result = parse_tick_message({"symbol": "EURUSD", "ts": NOW, "ask": 1.2})
        assert isinstance(result, Rejection)
        assert result.message == (
            "expected 'bid' to be a number; received nothing (the field is missing)"
        )

    @pytest.mark.parametrize("raw", [[1, 2], "tick", None])
    def test_non_object_is_invalid_schema(self, raw: object) -> None:
        result = parse_tick_message(raw)  # type: ignore[arg-type]
        assert isinstance(result, Rejection)
        assert result.code is RejectCode.INVALID_SCHEMA

    @pytest.mark.parametrize("symbol", [None, 7, ["EURUSD"]])
    def test_non_string_symbol_is_invalid_schema(self, symbol: object) -> None:
        result = parse_tick_message({"symbol": symbol, "ts": NOW, "bid": 1.1, "ask": 1.2})
        assert isinstance(result, Rejection)
        assert result.code is RejectCode.INVALID_SCHEMA

    @pytest.mark.parametrize("seq", [-1, True, 1.0, "4"])
    def test_bad_seq_is_invalid_schema_without_seq(self, seq: object) -> None:
        result = parse_tick_message(
            {"symbol": "EURUSD", "ts": NOW, "bid": 1.1, "ask": 1.2, "seq": seq}
        )
        assert isinstance(result, Rejection)
        assert result.code is RejectCode.INVALID_SCHEMA
        assert result.seq is None

    @pytest.mark.parametrize("volume", [-1, -0.5, math.nan, math.inf, 10**400])
    def test_bad_volume_value_is_invalid_volume(self, volume: float) -> None:
        raw = {"symbol": "EURUSD", "ts": NOW, "bid": 1.1, "ask": 1.2, "volume": volume}
        result = parse_tick_message(raw)
        assert isinstance(result, Rejection)
        assert result.code is RejectCode.INVALID_VOLUME

    def test_null_optional_fields_count_as_absent(self) -> None:
        raw = {"symbol": "EURUSD", "ts": NOW, "bid": 1.1, "ask": 1.2, "volume": None, "seq": None}
        assert parse_tick_message(raw) == ParsedTick(Tick("EURUSD", NOW, 1.1, 1.2, 0.0), None)

    def test_long_received_value_is_truncated(self) -> None:
        result = parse_tick_message({"symbol": "EURUSD", "ts": "x" * 10_000, "bid": 1, "ask": 1})
        assert isinstance(result, Rejection)
        assert len(result.message) < 200


class TestSymbolNormalizer:
    ALIASES = {"EURUSD.m": "EURUSD", "gbpusd.PRO": "gbpusd", " XAUUSD# ": "XAUUSD"}

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("EURUSD", "EURUSD"),
            ("eurusd", "EURUSD"),
            ("  eurusd\n", "EURUSD"),
            ("EURUSD.m", "EURUSD"),
            ("eurusd.M", "EURUSD"),
            ("GBPUSD.pro", "GBPUSD"),
            ("xauusd#", "XAUUSD"),
            ("EURUSD.x", "EURUSD.X"),
            ("US500-CASH", "US500-CASH"),
            ("BTC_USD", "BTC_USD"),
            ("A" * 32, "A" * 32),
        ],
    )
    def test_normalizes(self, raw: str, expected: str) -> None:
        normalizer = SymbolNormalizer(self.ALIASES)
        assert normalizer.normalize(raw) == expected
        assert normalizer.normalize(raw) == expected  # cached

    @pytest.mark.parametrize(
        "raw", ["", "   ", "EUR/USD", ".EURUSD", "-EURUSD", "A" * 33, "EURUSD#", "ſEK", "EUR USD"]
    )
    def test_refuses_invalid(self, raw: str) -> None:
        assert SymbolNormalizer(self.ALIASES).normalize(raw) is None

    def test_aliases_are_folded(self) -> None:
        assert SymbolNormalizer(self.ALIASES).aliases == {
            "EURUSD.M": "EURUSD",
            "GBPUSD.PRO": "GBPUSD",
            "XAUUSD#": "XAUUSD",
        }

    @pytest.mark.parametrize(
        "aliases", [{"EURUSD.m": "EUR/USD"}, {"": "EURUSD"}, {" ": "EURUSD"}, {"ſEK": "SEK"}]
    )
    def test_invalid_alias_table_is_refused(self, aliases: dict[str, str]) -> None:
        with pytest.raises(InvalidInput, match="expected .* received"):
            SymbolNormalizer(aliases)

    def test_cache_stays_bounded_and_correct(self) -> None:
        normalizer = SymbolNormalizer({"EURUSD.m": "EURUSD"})
        for i in range(10_000):
            assert normalizer.normalize(f"s{i}") == f"S{i}"
        assert normalizer.normalize("eurusd.m") == "EURUSD"


class TestValidationConfig:
    def test_defaults_are_sane(self) -> None:
        config = ValidationConfig()
        assert config.retention_ms == 30 * 86_400_000
        assert config.warmup_ticks <= min(config.spike_window_ticks, config.spread_window_ticks)

    @pytest.mark.parametrize(
        "changes",
        [
            {"warmup_ticks": 0},
            {"warmup_ticks": 60},
            {"retention_ms": 0},
            {"spike_threshold": math.nan},
            {"spike_confirmation_ticks": 1},
            {"duplicate_memory_ticks": 0},
        ],
    )
    def test_bad_values_are_refused(self, changes: dict[str, float]) -> None:
        with pytest.raises(ConfigurationError, match="expected ValidationConfig"):
            ValidationConfig(**changes)  # type: ignore[arg-type]


class TestValidateRejections:
    def test_invalid_schema_is_counted(self, warm: tuple[TickValidator, int, float]) -> None:
        validator, ts, _ = warm
        before = validator.symbol_snapshot("EURUSD")
        result = validator.validate_message({"symbol": "EURUSD", "ts": ts + 1, "bid": True})
        assert isinstance(result, Rejection) and result.code is RejectCode.INVALID_SCHEMA
        assert validator.stats.rejected[RejectCode.INVALID_SCHEMA] == 1
        assert validator.symbol_snapshot("EURUSD") == before

    @pytest.mark.parametrize("symbol", ["EUR/USD", "", "€URUSD"])
    def test_invalid_symbol(self, warm: tuple[TickValidator, int, float], symbol: str) -> None:
        validator, ts, mid = warm
        assert_rejected_untouched(
            validator, make_tick(mid, ts + STEP_MS, symbol), RejectCode.INVALID_SYMBOL
        )

    def test_symbol_beyond_max_symbols_is_invalid_symbol(self) -> None:
        validator = make_validator(ValidationConfig(max_symbols=2))
        feed(validator, [1.1], "EURUSD")
        feed(validator, [1.3], "GBPUSD")
        assert_rejected_untouched(
            validator, make_tick(150.0, START, "USDJPY"), RejectCode.INVALID_SYMBOL
        )
        assert validator.symbol_snapshot("USDJPY") is None

    @pytest.mark.parametrize(("bid", "ask"), [(math.nan, 1.1), (1.1, math.inf), (-math.inf, 1.1)])
    def test_non_finite_price(
        self, warm: tuple[TickValidator, int, float], bid: float, ask: float
    ) -> None:
        validator, ts, _ = warm
        tick = Tick("EURUSD", ts + STEP_MS, bid, ask, 1.0)
        assert_rejected_untouched(validator, tick, RejectCode.NON_FINITE_PRICE)

    def test_huge_integer_price_is_non_finite(self) -> None:
        validator = make_validator()
        result = validator.validate_message(
            {"symbol": "EURUSD", "ts": START, "bid": 10**400, "ask": 10**401}
        )
        assert isinstance(result, Rejection) and result.code is RejectCode.NON_FINITE_PRICE

    @pytest.mark.parametrize(("bid", "ask"), [(0.0, 1.1), (-1.1, 1.1), (-2.0, -1.0)])
    def test_non_positive_price(
        self, warm: tuple[TickValidator, int, float], bid: float, ask: float
    ) -> None:
        validator, ts, _ = warm
        tick = Tick("EURUSD", ts + STEP_MS, bid, ask, 1.0)
        assert_rejected_untouched(validator, tick, RejectCode.NON_POSITIVE_PRICE)

    def test_crossed_quote(self, warm: tuple[TickValidator, int, float]) -> None:
        validator, ts, mid = warm
        tick = Tick("EURUSD", ts + STEP_MS, mid + 0.00005, mid - 0.00005, 1.0)
        assert_rejected_untouched(validator, tick, RejectCode.CROSSED_QUOTE)
        locked = Tick("EURUSD", ts + STEP_MS, mid, mid, 1.0)
        assert isinstance(validator.validate(locked), Accepted)

    @pytest.mark.parametrize("volume", [-1.0, math.nan, math.inf])
    def test_invalid_volume(self, warm: tuple[TickValidator, int, float], volume: float) -> None:
        validator, ts, mid = warm
        tick = Tick("EURUSD", ts + STEP_MS, mid, mid + SPREAD, volume)
        assert_rejected_untouched(validator, tick, RejectCode.INVALID_VOLUME)

    def test_spread_outlier_not_checked_before_warmup(self) -> None:
        validator = make_validator()
        feed(validator, [1.1] * 5)
        wide = make_tick(1.1, START + 5 * STEP_MS, spread=0.005)
        assert isinstance(validator.validate(wide), Accepted)  # 5 spreads < 20 warm-up

    def test_spread_outlier_after_warmup(self, warm: tuple[TickValidator, int, float]) -> None:
        validator, ts, mid = warm
        wide = make_tick(mid, ts + STEP_MS, spread=0.005)  # 50 x the median spread
        result = assert_rejected_untouched(validator, wide, RejectCode.SPREAD_OUTLIER)
        assert "x median" in result.message
        assert isinstance(validator.validate(make_tick(mid, ts + STEP_MS)), Accepted)

    def test_spread_floor_lets_small_spread_through_zero_spread_feed(self) -> None:
        validator = make_validator()
        feed(validator, [1.1] * 30)
        # Median spread 0: only the floor (5e-4 x mid) decides.
        zero_spread = [make_tick(1.1, START + i * STEP_MS, spread=0.0) for i in range(30, 60)]
        for tick in zero_spread:
            assert isinstance(validator.validate(tick), Accepted)
        ts = zero_spread[-1].ts
        assert isinstance(validator.validate(make_tick(1.1, ts + 100, spread=0.0002)), Accepted)
        assert_rejected_untouched(
            validator, make_tick(1.1, ts + 200, spread=0.001), RejectCode.SPREAD_OUTLIER
        )

    def test_price_spike_50_sigma_rejected_and_windows_untouched(
        self, warm: tuple[TickValidator, int, float]
    ) -> None:
        validator, ts, mid = warm
        before = validator.symbol_snapshot("EURUSD")
        result = validator.validate(make_tick(mid * (1 + 50 * 1e-4), ts + STEP_MS), 5)
        assert isinstance(result, Rejection) and result.code is RejectCode.QUARANTINED
        assert result.seq == 5 and "received +0.5" in result.message
        (held,) = validator.take_quarantine_changes().held
        assert (held.reason, held.seq) == (HoldReason.PRICE_SPIKE, 5)
        after = validator.symbol_snapshot("EURUSD")
        assert before is not None and after is not None
        assert after.recent_returns == before.recent_returns
        assert after.recent_spreads == before.recent_spreads
        assert (after.last_ts, after.last_mid) == (before.last_ts, before.last_mid)
        assert after.remembered_ticks == before.remembered_ticks
        assert after.spike_candidates == 1
        # A 3-sigma move is fine, and it clears the candidate level.
        assert isinstance(validator.validate(make_tick(mid * 1.0003, ts + STEP_MS)), Accepted)
        assert tracked(validator, "EURUSD").spike_candidates == 0

    def test_future_timestamp_with_simulated_clock(self) -> None:
        clock = SimulatedClock(NOW)
        validator = make_validator(clock=clock)
        assert isinstance(validator.validate(make_tick(1.1, NOW + 5_000)), Accepted)
        too_far = make_tick(1.1, NOW + 5_001)
        result = assert_rejected_untouched(validator, too_far, RejectCode.FUTURE_TIMESTAMP)
        assert "1 ms ahead" in result.message
        clock.advance_ms(1)
        assert isinstance(validator.validate(too_far), Accepted)

    def test_stale_timestamp_with_simulated_clock(self) -> None:
        clock = SimulatedClock(NOW)
        validator = make_validator(ValidationConfig(retention_ms=86_400_000), clock)
        oldest = NOW - 86_400_000
        assert isinstance(validator.validate(make_tick(1.1, oldest)), Accepted)
        assert_rejected_untouched(validator, make_tick(1.1, oldest - 1), RejectCode.STALE_TIMESTAMP)
        clock.advance_ms(1)
        assert_rejected_untouched(validator, make_tick(1.1, oldest), RejectCode.STALE_TIMESTAMP)

    def test_duplicate_dropped_same_ts_other_price_accepted(
        self, warm: tuple[TickValidator, int, float]
    ) -> None:
        validator, ts, mid = warm
        tick = make_tick(mid * 1.0001, ts + STEP_MS)
        assert isinstance(validator.validate(tick), Accepted)
        assert_rejected_untouched(validator, tick, RejectCode.DUPLICATE)
        # Same symbol after normalization is the same key.
        assert_rejected_untouched(
            validator, Tick("eurusd ", tick.ts, tick.bid, tick.ask, 3.0), RejectCode.DUPLICATE
        )
        other_price = make_tick(mid * 1.0002, ts + STEP_MS)
        assert isinstance(validator.validate(other_price), Accepted)

    def test_duplicate_memory_is_bounded(self) -> None:
        validator = make_validator(ValidationConfig(duplicate_memory_ticks=30))
        mids = random_walk(100)
        feed(validator, mids)
        assert tracked(validator, "EURUSD").remembered_ticks == 30
        forgotten = validator.validate(make_tick(mids[0], START))
        assert isinstance(forgotten, Accepted) and forgotten.out_of_order
        recent = validator.validate(make_tick(mids[99], START + 99 * STEP_MS))
        assert isinstance(recent, Rejection) and recent.code is RejectCode.DUPLICATE


class TestValidateAccepts:
    def test_steady_trend_is_not_a_spike(self) -> None:
        validator = make_validator()
        feed(validator, [1.1 * 1.0002**i for i in range(500)])  # +2 pips a tick, 500 ticks
        assert validator.stats.rejected_total == 0

    def test_noisy_trend_is_not_a_spike(self) -> None:
        rng = random.Random(3)
        mids = [1.1]
        for _ in range(2000):
            mids.append(mids[-1] * (1.0 + 3e-4 + rng.gauss(0.0, 1e-4)))
        feed(make_validator(), mids)

    def test_flat_market_then_small_move_passes_mad_floor(self) -> None:
        validator = make_validator()
        ts = feed(validator, [1.1] * 100)
        assert tracked(validator, "EURUSD").recent_returns == (0.0,) * 50
        assert isinstance(validator.validate(make_tick(1.1001, ts + STEP_MS)), Accepted)
        assert isinstance(validator.validate(make_tick(1.1, ts + 2 * STEP_MS)), Accepted)
        big = validator.validate(make_tick(1.11, ts + 3 * STEP_MS))
        assert isinstance(big, Rejection) and big.code is RejectCode.QUARANTINED

    def test_only_the_cold_limit_applies_before_warmup(self) -> None:
        validator = make_validator()
        feed(validator, [1.1, 1.1001, 1.1002])
        assert isinstance(validator.validate(make_tick(1.2, START + 3 * STEP_MS)), Accepted)
        far = validator.validate(make_tick(1.4, START + 4 * STEP_MS))  # +17 % > 10 %
        assert isinstance(far, Rejection) and far.code is RejectCode.QUARANTINED

    def test_new_level_accepted_once_it_held_for_the_confirmation_window(
        self, warm: tuple[TickValidator, int, float]
    ) -> None:
        validator, ts, mid = warm
        level = mid * 1.01
        codes = []
        for i in range(1, 103):  # one tick every 100 ms: the 101st is 10 s after the first
            jitter = (1e-5, -1e-5)[i % 2]
            result = validator.validate(make_tick(level * (1 + jitter), ts + i * STEP_MS))
            codes.append(result.code if isinstance(result, Rejection) else "accepted")
        assert codes == [RejectCode.QUARANTINED] * 100 + ["accepted"] * 2
        snapshot = validator.symbol_snapshot("EURUSD")
        assert snapshot is not None and snapshot.last_mid == pytest.approx(level, rel=1e-4)
        assert max(abs(r) for r in snapshot.recent_returns) < 1e-3  # the jump is not recorded
        feed(validator, random_walk(50, start=snapshot.last_mid), start_ts=ts + 103 * STEP_MS)

    def test_inconsistent_spikes_never_confirm(
        self, warm: tuple[TickValidator, int, float]
    ) -> None:
        validator, ts, mid = warm
        for i in range(1, 10):
            jump = mid * (1.01 if i % 2 else 0.99)
            result = validator.validate(make_tick(jump, ts + i * 2_000))
            assert isinstance(result, Rejection) and result.code is RejectCode.QUARANTINED

    def test_jump_after_feed_gap_is_accepted_and_not_recorded(
        self, warm: tuple[TickValidator, int, float]
    ) -> None:
        validator, ts, mid = warm
        before = validator.symbol_snapshot("EURUSD")
        result = validator.validate(make_tick(mid * 1.01, ts + 300_001))
        assert isinstance(result, Accepted)
        after = validator.symbol_snapshot("EURUSD")
        assert before is not None and after is not None
        assert after.recent_returns == before.recent_returns

    def test_out_of_order_flagged_accepted_and_kept_out_of_windows(
        self, warm: tuple[TickValidator, int, float]
    ) -> None:
        validator, ts, mid = warm
        before = validator.symbol_snapshot("EURUSD")
        late = make_tick(mid * 1.00005, ts - 50)
        result = validator.validate(late, 11)
        assert result == Accepted(late, out_of_order=True)
        after = validator.symbol_snapshot("EURUSD")
        assert before is not None and after is not None
        assert after.recent_returns == before.recent_returns
        assert after.recent_spreads == before.recent_spreads
        assert (after.last_ts, after.last_mid) == (before.last_ts, before.last_mid)
        assert after.remembered_ticks == before.remembered_ticks + 1
        assert validator.stats.out_of_order == 1
        assert validator.stats.accepted == 101
        assert_rejected_untouched(validator, late, RejectCode.DUPLICATE)
        same_ts = validator.validate(make_tick(mid * 1.00001, ts))
        assert isinstance(same_ts, Accepted) and not same_ts.out_of_order

    def test_out_of_order_spike_rejected_without_candidate(
        self, warm: tuple[TickValidator, int, float]
    ) -> None:
        validator, ts, mid = warm
        result = validator.validate(make_tick(mid * 1.01, ts - 50))
        assert isinstance(result, Rejection) and result.code is RejectCode.QUARANTINED
        assert tracked(validator, "EURUSD").spike_candidates == 0

    def test_symbol_normalized_through_alias_table(self) -> None:
        validator = make_validator(aliases={"EURUSD.m": "EURUSD"})
        result = validator.validate(Tick("eurusd.M", START, 1.1, 1.1001, 2.0), 1)
        assert result == Accepted(Tick("EURUSD", START, 1.1, 1.1001, 2.0))
        kept = validator.validate(Tick("gbpusd.x", START, 1.3, 1.3001, 2.0))
        assert isinstance(kept, Accepted) and kept.tick.symbol == "GBPUSD.X"
        feed(validator, [1.1001, 1.1002], symbol="EURUSD.m", start_ts=START + STEP_MS)
        assert tracked(validator, "EURUSD").last_ts == START + 2 * STEP_MS

    def test_symbols_are_isolated(self, warm: tuple[TickValidator, int, float]) -> None:
        validator, ts, mid = warm
        before = validator.symbol_snapshot("EURUSD")
        # A level 15 % away from EURUSD's is no spike for GBPUSD, nor the same key a duplicate.
        gbp = Tick("GBPUSD", ts, 1.27, 1.2702, 1.0)
        assert isinstance(validator.validate(gbp), Accepted)
        same_key = Tick("GBPUSD", ts, 1.27 - 1e-9, 1.2702, 1.0)
        assert isinstance(validator.validate(same_key), Accepted)
        eur_key = make_tick(mid, ts)
        on_gbp = validator.validate(Tick("GBPUSD", ts, eur_key.bid, eur_key.ask))
        # Held by GBPUSD's own move limit (-13 %), not refused as EURUSD's duplicate.
        assert isinstance(on_gbp, Rejection) and on_gbp.code is RejectCode.QUARANTINED
        assert validator.symbol_snapshot("EURUSD") == before
        assert tracked(validator, "GBPUSD").last_ts == ts


class TestValidationStats:
    def test_counts_per_code_and_totals(self) -> None:
        validator = make_validator()
        validator.validate(make_tick(1.1, START))
        validator.validate(make_tick(1.1, START))
        validator.validate(make_tick(1.1, START - 10))
        validator.validate(Tick("EURUSD", START, 1.2, 1.1))
        validator.validate_message({"symbol": 1})
        stats = validator.stats
        assert (stats.accepted, stats.out_of_order) == (2, 1)
        assert stats.rejected[RejectCode.DUPLICATE] == 1
        assert stats.rejected[RejectCode.CROSSED_QUOTE] == 1
        assert stats.rejected[RejectCode.INVALID_SCHEMA] == 1
        assert stats.rejected_total == 3
        assert set(stats.rejected) == set(RejectCode)


class TestLateTicksFarFromNow:
    def test_a_late_tick_minutes_old_is_not_judged_against_the_price_of_now(self) -> None:
        from chainflow.bridge.symbols import SymbolNormalizer
        from chainflow.bridge.validation import Accepted, TickValidator, ValidationConfig
        from chainflow.core.clock import SimulatedClock
        from chainflow.core.market import Tick

        start = 1_800_000_000_000
        validator = TickValidator(
            ValidationConfig(), SimulatedClock(start + 3_600_000), SymbolNormalizer()
        )
        price = 1.1000
        for i in range(200):  # a steady climb of 0.2 pip per tick, one tick a second
            price += 0.00002
            tick = Tick("EURUSD", start + i * 1000, round(price, 5), round(price + 0.0001, 5))
            assert isinstance(validator.validate(tick), Accepted)
        # A tick resent 150 s late sits 30 pips below the price of now: it is accepted as
        # out of order, not refused as a spike.
        late = Tick("EURUSD", start + 50_000, 1.1010, 1.1011)
        outcome = validator.validate(late)
        assert isinstance(outcome, Accepted) and outcome.out_of_order
