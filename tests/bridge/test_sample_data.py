"""The synthetic sample market: config, model properties, bars, file formats and the command."""

from __future__ import annotations

import hashlib
import re
import tracemalloc
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from chainflow.core.errors import InvalidInput
from chainflow.core.market import Bar, Tick, Timeframe
from chainflow.demo.sample_data import (
    KNOWN_SYMBOL_SPECS,
    SampleMarketConfig,
    SessionTickIntervals,
    SymbolSpec,
    sample_data_command,
)
from chainflow.demo.sample_files import (
    MT5_BAR_HEADER,
    MT5_TICK_HEADER,
    OHLCV_CSV_HEADER,
    REGIME_CSV_HEADER,
    aggregate_bars,
    format_prices,
    generate_bars,
    write_sample_files,
)
from chainflow.demo.sample_market import (
    Regime,
    SampleDay,
    SymbolTicks,
    cholesky_rows,
    correlation,
    generate_sample_days,
    generate_ticks,
)

FRIDAY = datetime(2026, 1, 9, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SYMBOL_TICK_ARRAYS = ("ts_ms", "bid_points", "ask_points", "volume", "regime")


@pytest.fixture(scope="module")
def sixty_days() -> list[SampleDay]:
    return list(generate_sample_days(SampleMarketConfig(days=60)))


def symbol_ticks(days: Iterable[SampleDay], symbol: str) -> SymbolTicks:
    parts = [t for day in days for t in day.symbols if t.symbol == symbol]
    return SymbolTicks(
        symbol,
        parts[0].digits,
        *(np.concatenate([getattr(p, name) for p in parts]) for name in SYMBOL_TICK_ARRAYS),
    )


def day_arrays(days: Iterable[SampleDay]) -> list[tuple[str, list[list[int]]]]:
    return [
        (t.symbol, [getattr(t, name).tolist() for name in SYMBOL_TICK_ARRAYS])
        for day in days
        for t in day.symbols
    ]


def epoch_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


class TestSampleMarketConfig:
    def test_defaults_three_symbols_from_a_monday(self) -> None:
        config = SampleMarketConfig()
        assert config.symbols == ("EURUSD", "GBPUSD", "USDJPY")
        assert config.start == datetime(2026, 1, 5, tzinfo=UTC) and config.start.weekday() == 0
        assert (config.days, config.seed) == (30, 7)
        assert [s.digits for s in config.specs] == [5, 5, 3]

    def test_symbols_upper_cased(self) -> None:
        assert SampleMarketConfig(symbols=(" eurusd", "UsdJpy")).symbols == ("EURUSD", "USDJPY")

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"symbols": ("EURUSD", "XAUUSD")}, "received 'XAUUSD'"),
            ({"symbols": ()}, "symbols must be distinct and non-empty"),
            ({"symbols": ("EURUSD", "eurusd")}, "symbols must be distinct and non-empty"),
            ({"symbols": "EURUSD"}, "symbols must be a sequence of names"),
            ({"days": 0}, "days must be from 1 to 36600; received 0"),
            ({"seed": -1}, "seed must be a non-negative integer; received -1"),
            ({"start": datetime(2026, 1, 5)}, "start must be timezone-aware"),  # noqa: DTZ001
            ({"start": datetime(2026, 1, 5, 6, tzinfo=UTC)}, "start must be at 00:00 UTC"),
        ],
    )
    def test_bad_input_rejected_with_what_was_received(
        self, overrides: dict[str, object], message: str
    ) -> None:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            SampleMarketConfig(**overrides)  # type: ignore[arg-type]

    def test_extra_spec_adds_a_symbol(self) -> None:
        gold = SymbolSpec("XAUUSD", 2650.0, 2, 30, 0.15, usd_beta=0.6)
        config = SampleMarketConfig(symbols=("EURUSD", "XAUUSD"), days=1, extra_specs=(gold,))
        day = next(generate_sample_days(config))
        assert config.specs[1] is gold and len(day.symbols[1]) > 0
        assert correlation("EURUSD", "XAUUSD") == 0.0

    def test_bad_spec_names_field_and_value(self) -> None:
        with pytest.raises(InvalidInput, match=r"digits of symbol spec 'ABC' .* received 9"):
            SymbolSpec("ABC", 1.0, 9, 10, 0.1)

    def test_tick_interval_below_two_slots_rejected(self) -> None:
        with pytest.raises(InvalidInput, match=r"london must be .* >= 0.2; received 0.1"):
            SessionTickIntervals(london=0.1)

    def test_known_correlations_positive_definite(self) -> None:
        names = list(KNOWN_SYMBOL_SPECS)
        lower = cholesky_rows([[correlation(a, b) for b in names] for a in names])
        assert all(lower[i][i] > 0 for i in range(len(names)))
        assert correlation("EURUSD", "GBPUSD") == 0.7
        assert correlation("USDJPY", "EURUSD") == -0.3


class TestGenerateSampleDays:
    def test_same_seed_identical_different_seed_differs(self) -> None:
        first = day_arrays(generate_sample_days(SampleMarketConfig(days=2)))
        again = day_arrays(generate_sample_days(SampleMarketConfig(days=2)))
        other = day_arrays(generate_sample_days(SampleMarketConfig(days=2, seed=8)))
        assert first == again
        assert first != other

    def test_longer_run_starts_with_the_shorter_run(self) -> None:
        short = day_arrays(generate_sample_days(SampleMarketConfig(days=3)))
        long = day_arrays(generate_sample_days(SampleMarketConfig(days=6)))
        assert long[: len(short)] == short

    def test_first_day_matches_recorded_fingerprint(self) -> None:
        # Pins the output across machines. If a NumPy upgrade changes its random streams,
        # this fails: regenerate the fingerprint knowingly, as sample files change too.
        day = next(generate_sample_days(SampleMarketConfig(days=1)))
        digest = hashlib.sha256()
        for ticks in day.symbols:
            for name in SYMBOL_TICK_ARRAYS:
                digest.update(getattr(ticks, name).astype("<i8").tobytes())
        assert [len(t) for t in day.symbols] == [26345, 24162, 22402]
        assert digest.hexdigest() == (
            "55e66f82684f337dfcb1a5c3c0a8d26498917f4afc0f5565547a246a289f99a9"
        )

    def test_quotes_whole_points_with_ask_above_bid(self, sixty_days: list[SampleDay]) -> None:
        for day in sixty_days:
            for ticks in day.symbols:
                assert np.all(ticks.ask_points > ticks.bid_points)
                assert np.all(ticks.bid_points > 0) and np.all(ticks.volume >= 0)
                assert set(np.unique(ticks.regime).tolist()) <= {r.value for r in Regime}

    def test_timestamps_strictly_increasing_per_symbol(self, sixty_days: list[SampleDay]) -> None:
        for symbol in ("EURUSD", "GBPUSD", "USDJPY"):
            assert np.all(np.diff(symbol_ticks(sixty_days, symbol).ts_ms) > 0)

    def test_each_chunk_holds_one_utc_day(self, sixty_days: list[SampleDay]) -> None:
        for day in sixty_days:
            for ticks in day.symbols:
                assert np.all(ticks.ts_ms // 86_400_000 == day.start_ms // 86_400_000)

    def test_no_ticks_from_friday_22_to_sunday_22(self, sixty_days: list[SampleDay]) -> None:
        for symbol in ("EURUSD", "GBPUSD", "USDJPY"):
            ts = symbol_ticks(sixty_days, symbol).ts_ms
            weekday = (ts // 86_400_000 + 3) % 7  # 1970-01-01 was a Thursday
            hour = ts // 3_600_000 % 24
            closed = (
                ((weekday == 4) & (hour >= 22)) | (weekday == 5) | ((weekday == 6) & (hour < 22))
            )
            assert not closed.any()
        for day in sixty_days:
            if day.day.weekday() == 5:
                assert day.tick_count == 0
            if day.day.weekday() == 6:  # the market reopens at 22:00
                assert day.tick_count > 0

    def test_every_tick_changes_bid_or_ask(self, sixty_days: list[SampleDay]) -> None:
        ticks = symbol_ticks(sixty_days, "EURUSD")
        unchanged = (np.diff(ticks.bid_points) == 0) & (np.diff(ticks.ask_points) == 0)
        assert not unchanged.any()

    def test_daily_returns_correlated_as_configured(self, sixty_days: list[SampleDay]) -> None:
        weekdays = [day for day in sixty_days if day.day.weekday() < 5]
        closes: dict[str, list[float]] = defaultdict(list)
        for day in weekdays:
            for ticks in day.symbols:
                closes[ticks.symbol].append(float(ticks.bid[-1]))
        returns = {symbol: np.diff(np.log(c)) for symbol, c in closes.items()}
        matrix = np.corrcoef([returns["EURUSD"], returns["GBPUSD"], returns["USDJPY"]])
        assert len(returns["EURUSD"]) >= 40
        assert matrix[0, 1] > 0.5
        assert matrix[0, 2] < -0.15

    def test_london_and_new_york_busier_than_asia(self, sixty_days: list[SampleDay]) -> None:
        per_hour = np.zeros(24)
        for day in sixty_days:
            if day.day.weekday() in (1, 2, 3):
                ticks = day.symbols[0]
                per_hour += np.bincount((ticks.ts_ms - day.start_ms) // 3_600_000, minlength=24)
        asia = per_hour[0:7].mean()
        assert per_hour[7:12].mean() > 1.8 * asia  # London
        assert per_hour[16:21].mean() > 1.8 * asia  # New York
        assert per_hour[12:16].mean() > per_hour[7:12].mean()  # the overlap is busiest

    @pytest.mark.parametrize("symbol", ["EURUSD", "USDJPY"])
    def test_regimes_differ_in_volatility_and_drift(
        self, sixty_days: list[SampleDay], symbol: str
    ) -> None:
        ticks = symbol_ticks(sixty_days, symbol)
        bars = aggregate_bars(ticks, Timeframe.M1)
        last_tick = np.searchsorted(ticks.ts_ms, bars.ts_ms + 60_000) - 1
        regime = ticks.regime[last_tick][1:]
        returns = np.diff(np.log(bars.close_points.astype(np.float64)))
        by_regime = {r: returns[regime == r] for r in Regime}
        assert all(len(values) > 1000 for values in by_regime.values())
        assert by_regime[Regime.VOLATILE].std() > 1.8 * by_regime[Regime.CALM].std()
        assert by_regime[Regime.TREND_UP].mean() > 0 > by_regime[Regime.TREND_DOWN].mean()

    def test_spreads_wider_in_quiet_hours_and_volatile_regime(
        self, sixty_days: list[SampleDay]
    ) -> None:
        ticks = symbol_ticks(sixty_days, "EURUSD")
        spread = ticks.ask_points - ticks.bid_points
        hour = ticks.ts_ms // 3_600_000 % 24
        london = spread[(hour >= 7) & (hour < 12)].mean()
        assert spread[hour < 7].mean() > 1.2 * london
        assert spread[hour == 21].mean() > 2 * london
        volatile, calm = (spread[ticks.regime == r].mean() for r in (Regime.VOLATILE, Regime.CALM))
        assert volatile > 1.5 * calm

    def test_memory_bounded_by_one_day(self) -> None:
        def peak_bytes(days: int) -> int:
            tracemalloc.start()
            try:
                for _ in generate_sample_days(SampleMarketConfig(days=days)):
                    pass
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

        one_week, month = peak_bytes(7), peak_bytes(30)
        assert month < 1.2 * one_week
        assert month < 100_000_000


class TestGenerateTicks:
    def test_chunks_merge_symbols_by_time(self) -> None:
        chunks = list(generate_ticks(SampleMarketConfig(days=2)))
        assert len(chunks) == 2
        for chunk in chunks:
            assert all(a.ts <= b.ts for a, b in zip(chunk, chunk[1:], strict=False))
            assert {t.symbol for t in chunk} == {"EURUSD", "GBPUSD", "USDJPY"}

    def test_prices_sit_on_the_symbol_digits(self) -> None:
        digits = {"EURUSD": 5, "GBPUSD": 5, "USDJPY": 3}
        for tick in next(generate_ticks(SampleMarketConfig(days=1))):
            places = digits[tick.symbol]
            assert float(f"{tick.bid:.{places}f}") == tick.bid
            assert float(f"{tick.ask:.{places}f}") == tick.ask
            assert tick.ask >= tick.bid and tick.volume >= 0


def bars_from_ticks(ticks: Iterable[Tick], timeframe: Timeframe) -> list[Bar]:
    groups: dict[tuple[str, int], list[Tick]] = defaultdict(list)
    for tick in ticks:
        groups[(tick.symbol, timeframe.bucket_start_ms(tick.ts))].append(tick)
    bars = []
    for (symbol, start), members in groups.items():
        members.sort(key=lambda t: t.ts)
        bids = [t.bid for t in members]
        volume = sum(t.volume for t in members)
        bars.append(
            Bar(
                symbol, timeframe, start, bids[0], max(bids), min(bids), bids[-1], volume, len(bids)
            )
        )
    return bars


class TestGenerateBars:
    @pytest.mark.parametrize("timeframe", [Timeframe.M1, Timeframe.H4])
    def test_equal_bars_recomputed_from_ticks(self, timeframe: Timeframe) -> None:
        config = SampleMarketConfig(start=FRIDAY, days=4)
        order = {symbol: i for i, symbol in enumerate(config.symbols)}

        def by_symbol_then_time(bar: Bar) -> tuple[int, int]:
            return order[bar.symbol], bar.ts

        chunks = list(generate_bars(config, timeframe))
        assert all(chunk == sorted(chunk, key=by_symbol_then_time) for chunk in chunks)
        generated = sorted((bar for chunk in chunks for bar in chunk), key=by_symbol_then_time)
        ticks = [tick for chunk in generate_ticks(config) for tick in chunk]
        assert generated == sorted(bars_from_ticks(ticks, timeframe), key=by_symbol_then_time)

    def test_rejects_a_timeframe_string(self) -> None:
        ticks = next(generate_sample_days(SampleMarketConfig(days=1))).symbols[0]
        with pytest.raises(InvalidInput, match="received 'M2'"):
            aggregate_bars(ticks, "M2")  # type: ignore[arg-type]


class TestFormatPrices:
    def test_exact_digits_without_float_noise(self) -> None:
        points = np.array([109000, 1, 148500], dtype=np.int64)
        assert format_prices(points, 5) == ["1.09000", "0.00001", "1.48500"]
        assert format_prices(points, 3) == ["109.000", "0.001", "148.500"]
        assert format_prices(points, 0) == ["109000", "1", "148500"]


def read_mt5_ticks(path: Path, symbol: str) -> Iterator[tuple[Tick, int]]:
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == MT5_TICK_HEADER and lines[-1] == ""
    for line in lines[1:-1]:
        day, time, bid, ask, last, volume, flags = line.split("\t")
        moment = datetime.strptime(f"{day} {time}", "%Y.%m.%d %H:%M:%S.%f").replace(tzinfo=UTC)
        ts = epoch_ms(moment)
        assert last == ""
        yield Tick(symbol, ts, float(bid), float(ask), float(volume)), int(flags)


def read_mt5_bars(path: Path, symbol: str, timeframe: Timeframe) -> Iterator[tuple[Bar, int]]:
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] == MT5_BAR_HEADER and lines[-1] == ""
    for line in lines[1:-1]:
        day, time, open_, high, low, close, tick_volume, volume, spread = line.split("\t")
        moment = datetime.strptime(f"{day} {time}", "%Y.%m.%d %H:%M:%S").replace(tzinfo=UTC)
        prices = (float(open_), float(high), float(low), float(close))
        ts = epoch_ms(moment)
        bar = Bar(symbol, timeframe, ts, *prices, float(volume), int(tick_volume))
        yield bar, int(spread)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleMarketConfig]:
    out = tmp_path_factory.mktemp("sample")
    config = SampleMarketConfig(start=FRIDAY, days=4)
    write_sample_files(config, out, timeframe=Timeframe.M5)
    return out, config


class TestWriteSampleFiles:
    def test_mt5_ticks_round_trip_exactly(self, written: tuple[Path, SampleMarketConfig]) -> None:
        out, config = written
        ticks = [tick for chunk in generate_ticks(config) for tick in chunk]
        for symbol in config.symbols:
            rows = list(read_mt5_ticks(out / f"{symbol}_ticks.tsv", symbol))
            assert [tick for tick, _ in rows] == [t for t in ticks if t.symbol == symbol]
            previous = None
            for tick, flags in rows:
                bid_changed = previous is None or tick.bid != previous.bid
                ask_changed = previous is None or tick.ask != previous.ask
                assert flags == 2 * bid_changed + 4 * ask_changed
                previous = tick

    def test_prices_written_with_symbol_digits(
        self, written: tuple[Path, SampleMarketConfig]
    ) -> None:
        out, _ = written
        for symbol, digits in (("EURUSD", 5), ("USDJPY", 3)):
            price = re.compile(rf"^\d+\.\d{{{digits}}}$")
            lines = (out / f"{symbol}_ticks.tsv").read_text().splitlines()[1:]
            assert all(price.match(field) for line in lines for field in line.split("\t")[2:4])
            lines = (out / f"{symbol}_M5.csv").read_text().splitlines()[1:]
            assert all(price.match(field) for line in lines for field in line.split(",")[1:5])

    def test_mt5_bars_round_trip_exactly(self, written: tuple[Path, SampleMarketConfig]) -> None:
        out, config = written
        bars = [bar for chunk in generate_bars(config, Timeframe.M5) for bar in chunk]
        days = list(generate_sample_days(config))
        for symbol in config.symbols:
            rows = list(read_mt5_bars(out / f"{symbol}_M5.tsv", symbol, Timeframe.M5))
            assert [bar for bar, _ in rows] == [b for b in bars if b.symbol == symbol]
            ticks = symbol_ticks(days, symbol)
            smallest_spread: dict[int, int] = {}
            spreads = (ticks.ask_points - ticks.bid_points).tolist()
            for ts, spread in zip(ticks.ts_ms.tolist(), spreads, strict=True):
                bucket = Timeframe.M5.bucket_start_ms(ts)
                smallest_spread[bucket] = min(smallest_spread.get(bucket, spread), spread)
            assert [spread for _, spread in rows] == [smallest_spread[bar.ts] for bar, _ in rows]

    def test_ohlcv_csv_matches_bars(self, written: tuple[Path, SampleMarketConfig]) -> None:
        out, config = written
        bars = [b for chunk in generate_bars(config, Timeframe.M5) for b in chunk]
        lines = (out / "GBPUSD_M5.csv").read_text().splitlines()
        assert lines[0] == OHLCV_CSV_HEADER
        parsed = []
        for line in lines[1:]:
            moment, *prices, volume = line.split(",")
            ts = datetime.strptime(moment, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            parsed.append((epoch_ms(ts), *map(float, prices), float(volume)))
        expected = [
            (b.ts, b.open, b.high, b.low, b.close, b.volume) for b in bars if b.symbol == "GBPUSD"
        ]
        assert parsed == expected

    def test_regime_segments_cover_every_tick(
        self, written: tuple[Path, SampleMarketConfig]
    ) -> None:
        out, config = written
        ticks = symbol_ticks(generate_sample_days(config), "USDJPY")
        lines = (out / "USDJPY_regimes.csv").read_text().splitlines()
        assert lines[0] == REGIME_CSV_HEADER
        segments = [line.split(",") for line in lines[1:]]
        assert sum(int(count) for *_, count in segments) == len(ticks)
        assert all(a[2] != b[2] for a, b in zip(segments, segments[1:], strict=False))
        labels = [
            Regime[name.upper()].value for _, _, name, count in segments for _ in range(int(count))
        ]
        assert labels == ticks.regime.tolist()
        first = datetime.fromisoformat(segments[0][0])
        assert epoch_ms(first) == int(ticks.ts_ms[0])


class TestSampleDataCommand:
    @pytest.fixture
    def cli(self) -> typer.Typer:
        app = typer.Typer()
        app.command("sample-data")(sample_data_command)
        app.command("other")(lambda: None)  # a second command keeps "sample-data" a subcommand
        return app

    def test_writes_files_and_prints_summary(self, cli: typer.Typer, tmp_path: Path) -> None:
        args = ["sample-data", "--days", "2", "--out", str(tmp_path), "--symbols", "eurusd,usdjpy"]
        result = CliRunner().invoke(cli, [*args, "--timeframe", "h1"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        names = sorted(path.name for path in tmp_path.iterdir())
        assert names == [
            f"{symbol}_{suffix}"
            for symbol in ("EURUSD", "USDJPY")
            for suffix in ("H1.csv", "H1.tsv", "regimes.csv", "ticks.tsv")
        ]
        assert "EURUSD" in result.output and "2026-01-05 00:00" in result.output

    def test_format_selects_files(self, cli: typer.Typer, tmp_path: Path) -> None:
        args = ["sample-data", "--days", "1", "--out", str(tmp_path), "--format", "csv"]
        result = CliRunner().invoke(cli, [*args, "--symbols", "GBPUSD"])
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in tmp_path.iterdir()) == ["GBPUSD_M1.csv", "GBPUSD_regimes.csv"]

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--timeframe", "M2"], "timeframe must be one of M1, M5, M15, M30, H1, H4, D1"),
            (["--days", "0"], "days must be from 1 to 36600; received 0"),
            (["--symbols", "EURUSD,XAUUSD"], "received 'XAUUSD'"),
            (["--start", "2026-13-01"], "start must be a date like 2026-01-05"),
        ],
    )
    def test_bad_input_fails_cleanly(
        self, cli: typer.Typer, tmp_path: Path, args: list[str], message: str
    ) -> None:
        result = CliRunner().invoke(
            cli, ["sample-data", "--out", str(tmp_path / "out"), *args], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 1
        assert message in result.output and "Traceback" not in result.output
        assert not (tmp_path / "out").exists()
