"""Bar files as people have them: each shape, generated from ONE canonical bar series, reads
to exactly the bars of the canonical CSV (``Date,Open,High,Low,Close,Volume``)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from chainflow.bridge.api import AggregatedBar, ColumnChoices, read_bar_file
from chainflow.bridge.bar_files import iter_chunks
from chainflow.bridge.bar_files.bar_rows import symbol_digits
from chainflow.bridge.bar_files.timestamps import epoch_to_ms
from chainflow.core.errors import InvalidInput
from chainflow.core.market import Timeframe

SYMBOL = "EURUSD"
TF = Timeframe.M5
BARS = 600
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC


def _series() -> pd.DataFrame:
    """The canonical series: EURUSD M5 bars in whole points (5 digits), a spread in points."""
    rng = np.random.default_rng(15)
    close = 108_500 + np.cumsum(rng.integers(-12, 13, BARS))
    open_ = np.concatenate([[108_500], close[:-1]])
    high = np.maximum(open_, close) + rng.integers(0, 8, BARS)
    low = np.minimum(open_, close) - rng.integers(0, 8, BARS)
    index = pd.date_range(START.replace(tzinfo=None), periods=BARS, freq="5min")
    frame = pd.DataFrame(
        {"Open": open_ / 1e5, "High": high / 1e5, "Low": low / 1e5, "Close": close / 1e5},
        index=index,
    )
    frame["Volume"] = rng.integers(1, 500, BARS)
    frame["points"] = rng.integers(5, 20, BARS)
    return frame


SERIES = _series()
OHLCV = ["Open", "High", "Low", "Close", "Volume"]
EPOCH_SECONDS = np.array([int(t.timestamp()) for t in SERIES.index.tz_localize("UTC")])


def canonical_csv(path: Path) -> Path:
    """Today's OHLCV CSV, written by hand (not by pandas): the reference every shape meets."""
    lines = ["Date,Open,High,Low,Close,Volume"]
    for moment, row in SERIES.iterrows():
        prices = ",".join(f"{row[c]:.5f}" for c in OHLCV[:4])
        lines.append(f"{moment:%Y-%m-%d %H:%M:%S},{prices},{int(row['Volume'])}")
    path.write_text("\n".join(lines) + "\n")
    return path


def read(path: Path, **kwargs: object) -> list[AggregatedBar]:
    return read_bar_file(path, SYMBOL, timeframe=TF, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def canonical(tmp_path_factory: pytest.TempPathFactory) -> list[AggregatedBar]:
    bars = read(canonical_csv(tmp_path_factory.mktemp("canonical") / "EURUSD_M5.csv"))
    assert len(bars) == BARS and bars[0].ts == int(START.timestamp() * 1000)
    return bars


def with_spread(bars: list[AggregatedBar]) -> list[AggregatedBar]:
    """The canonical bars with the series' spread (price units), one tick standing per bar."""
    spreads = (SERIES["points"] / 1e5).round(5).tolist()
    return [
        replace(b, tick_count=1, spread_min=s, spread_max=s, spread_sum=s)
        for b, s in zip(bars, spreads, strict=True)
    ]


def pandas_frame(tz: str | None = None) -> pd.DataFrame:
    frame = SERIES[OHLCV].copy()
    if tz is not None:
        frame.index = frame.index.tz_localize("UTC").tz_convert(tz)
    return frame


class TestShapesReadLikeTheCanonicalCsv:
    def test_pandas_to_csv_naive_index(self, tmp_path: Path, canonical: list) -> None:
        path = tmp_path / "pandas.csv"
        pandas_frame().to_csv(path)
        assert path.read_text().startswith(",Open,High,Low,Close,Volume\n")
        assert read(path) == canonical

    @pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
    def test_pandas_to_csv_tz_aware_index_is_converted_to_utc(
        self, tmp_path: Path, canonical: list, tz: str
    ) -> None:
        path = tmp_path / "aware.csv"
        pandas_frame(tz).to_csv(path)
        assert read(path) == canonical

    def test_yfinance_like_with_adj_close_and_extras(self, tmp_path: Path, canonical: list) -> None:
        frame = pandas_frame("America/New_York")
        frame.insert(4, "Adj Close", frame["Close"] * 0.97)
        frame["Dividends"] = 0.0
        frame["Stock Splits"] = 0.0
        frame.index.name = "Datetime"
        path = tmp_path / "yf.csv"
        frame.to_csv(path)
        notes: list[str] = []
        assert read(path, warn=notes.append) == canonical
        assert notes == [
            "yf.csv: ignoring columns Adj Close (used only when asked: --use-adj-close), "
            "Dividends, Stock Splits"
        ]

    def test_yfinance_download_three_line_header(self, tmp_path: Path, canonical: list) -> None:
        frame = pandas_frame("UTC")
        frame.columns = pd.MultiIndex.from_product([frame.columns, ["EURUSD=X"]])
        frame.columns.names = ["Price", "Ticker"]
        frame.index.name = "Datetime"
        path = tmp_path / "download.csv"
        frame.to_csv(path)
        assert path.read_text().splitlines()[1].startswith("Ticker,EURUSD=X")
        assert read(path) == canonical

    @pytest.mark.parametrize(
        ("column", "scale", "as_float"),
        [("ts", 1, False), ("timestamp", 1000, False), ("Time", 1, True), ("Date", 10**6, False)],
    )
    def test_epoch_seconds_and_milliseconds_by_magnitude(
        self, tmp_path: Path, canonical: list, column: str, scale: int, as_float: bool
    ) -> None:
        frame = pandas_frame().reset_index(drop=True)
        values = EPOCH_SECONDS * scale
        frame.insert(0, column, values.astype(float) if as_float else values)
        path = tmp_path / "epoch.csv"
        frame.to_csv(path, index=False)
        assert read(path) == canonical

    @pytest.mark.parametrize("offset", ["Z", "+00:00", "+02:00", "-05:30"])
    def test_iso_strings_with_offsets_and_t_separator(
        self, tmp_path: Path, canonical: list, offset: str
    ) -> None:
        hours, minutes = (0, 0) if offset == "Z" else (int(offset[:3]), int(offset[4:]))
        shift = pd.Timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes)
        local = SERIES.index + shift
        lines = ["DateTime;OPEN;high;Low;cLoSe;VOLUME"]
        for moment, row in zip(local, SERIES.itertuples(), strict=True):
            prices = ";".join(str(getattr(row, c)) for c in OHLCV[:4])
            lines.append(f"{moment:%Y-%m-%dT%H:%M:%S}{offset};{prices};{row.Volume}")
        path = tmp_path / "iso.csv"
        path.write_text("\n".join(lines))
        assert read(path) == canonical

    def test_naive_times_with_tz_offset(self, tmp_path: Path, canonical: list) -> None:
        frame = pandas_frame()
        frame.index = frame.index + pd.Timedelta(hours=2)  # broker server time, UTC+2
        frame.index.name = "Date"
        path = tmp_path / "server_time.csv"
        frame.to_csv(path)
        assert read(path, tz_offset_ms=2 * 3_600_000) == canonical

    @pytest.mark.parametrize("sep", ["\t", ";"])
    def test_tab_and_semicolon_separated(self, tmp_path: Path, canonical: list, sep: str) -> None:
        path = tmp_path / "sep.csv"
        pandas_frame().to_csv(path, sep=sep)
        assert read(path) == canonical

    def test_separate_date_and_time_columns(self, tmp_path: Path, canonical: list) -> None:
        frame = pandas_frame().reset_index(drop=True)
        frame.insert(0, "Date", SERIES.index.strftime("%Y.%m.%d"))
        frame.insert(1, "Time", SERIES.index.strftime("%H:%M"))
        path = tmp_path / "date_time.csv"
        frame.to_csv(path, index=False)
        assert read(path) == canonical

    def test_extra_columns_are_named_once(self, tmp_path: Path, canonical: list) -> None:
        frame = pandas_frame()
        frame["rsi"] = 50.0
        frame["note"] = "a, quoted"
        frame.index.name = "timestamp"
        path = tmp_path / "extra.csv"
        frame.to_csv(path)
        notes: list[str] = []
        chunks = iter_chunks(path, "csv", SYMBOL, timeframe=TF, chunk_rows=50, warn=notes.append)
        bars = [bar for chunk in chunks for bar in chunk.rows]
        assert bars == canonical
        assert notes == ["extra.csv: ignoring columns rsi, note"]


class TestSpread:
    @pytest.mark.parametrize(
        ("header", "unit", "in_price"),
        [
            ("Spread(points)", None, False),
            ("spread_points", None, False),
            ("Spread", None, False),  # MT5's unit when the header does not say
            ("Spread", "points", False),
            ("spread_price", None, True),
            ("Spread (price)", None, True),
            ("Spread", "price", True),
        ],
    )
    def test_points_and_price_read_alike(
        self, tmp_path: Path, canonical: list, header: str, unit: str | None, in_price: bool
    ) -> None:
        frame = pandas_frame()
        points = SERIES["points"]
        frame[header] = points / 1e5 if in_price else points
        path = tmp_path / "spread.csv"
        frame.to_csv(path)
        bars = read(path, choices=ColumnChoices(spread_unit=unit))  # type: ignore[arg-type]
        assert bars == with_spread(canonical)

    def test_metatrader5_python_rates_frame(self, tmp_path: Path, canonical: list) -> None:
        """``pd.DataFrame(mt5.copy_rates_range(...))``: epoch-second ``time``, spread in
        points, ``tick_volume`` and ``real_volume``; reads like the MT5 bar export."""
        rates = pd.DataFrame(
            {
                "time": EPOCH_SECONDS,
                **{c.lower(): SERIES[c].to_numpy() for c in OHLCV[:4]},
                "tick_volume": SERIES["Volume"].to_numpy(),
                "spread": SERIES["points"].to_numpy(),
                "real_volume": 0,
            }
        )
        path = tmp_path / "rates.csv"
        rates.to_csv(path, index=False)
        mt5 = tmp_path / "EURUSD_M5.tsv"
        lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
        for moment, row in SERIES.iterrows():
            prices = "\t".join(f"{row[c]:.5f}" for c in OHLCV[:4])
            counts = f"{int(row['Volume'])}\t0\t{int(row['points'])}"
            lines.append(f"{moment:%Y.%m.%d\t%H:%M:%S}\t{prices}\t{counts}")
        mt5.write_text("\r\n".join(lines), encoding="utf-16")
        from_rates = read(path)
        assert from_rates == read(mt5)
        expected = with_spread(canonical)
        assert [b.spread_min for b in from_rates] == [b.spread_min for b in expected]
        assert [b.spread_mean for b in from_rates] == pytest.approx(
            [b.spread_min for b in expected]
        )
        assert [(b.tick_count, b.volume) for b in from_rates] == [
            (int(v), 0.0) for v in SERIES["Volume"]
        ]

    def test_mt5_bar_export_with_commas_reads_as_with_tabs(self, tmp_path: Path) -> None:
        header = "<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<TICKVOL>,<VOL>,<SPREAD>"
        row = "2026.01.05,10:00:00,1.08500,1.08600,1.08400,1.08550,12,30,8"
        commas = tmp_path / "c.csv"
        commas.write_text(f"{header}\n{row}\n")
        tabs = tmp_path / "t.tsv"
        tabs.write_text(f"{header}\n{row}\n".replace(",", "\t"))
        assert read(commas) == read(tabs) and read(tabs)[0].spread_mean == pytest.approx(8e-5)

    def test_jpy_points_use_three_digits(self, tmp_path: Path) -> None:
        path = tmp_path / "usdjpy.csv"
        path.write_text("Date,Open,High,Low,Close,Spread\n2026-01-05,148.5,148.6,148.4,148.55,14\n")
        [bar] = read_bar_file(path, "USDJPY", timeframe=Timeframe.D1)
        assert bar.spread_mean == 0.014

    @pytest.mark.parametrize("symbol", ["EURUSD", "USDJPY", "eurjpy.a", "XAUUSD", "US500", "BTC"])
    def test_symbol_digits_match_the_risk_instruments(self, symbol: str) -> None:
        from chainflow.risk.api import currency_pair, default_instrument

        expected = default_instrument(symbol, 1.0).price_digits if currency_pair(symbol) else None
        assert symbol_digits(symbol) == expected


class TestAdjustedClose:
    def test_use_adj_close_scales_the_bar(self, tmp_path: Path, canonical: list) -> None:
        frame = pandas_frame()
        frame.insert(4, "Adj Close", (frame["Close"] * 0.5).round(6))
        path = tmp_path / "adj.csv"
        frame.to_csv(path)
        bars = read(path, choices=ColumnChoices(use_adj_close=True))
        for bar, raw, adj in zip(bars, canonical, frame["Adj Close"], strict=True):
            assert bar.close == adj
            assert bar.open == pytest.approx(raw.open * adj / raw.close)
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            assert bar.volume == raw.volume


class TestErrorsNameLineColumnAndExpectation:
    def write(self, tmp_path: Path, text: str) -> Path:
        path = tmp_path / "bad.csv"
        path.write_text(text)
        return path

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                ",Open,High,Low,Close\n2026-01-05,1,2,0.5,1\n5 Jan 2026,1,2,0.5,1\n",
                "line 3: expected the unnamed first column as an ISO 8601 date or date-time",
            ),
            (
                "Date,Time,Open,High,Low,Close\n2026-01-05,25:00,1,2,0.5,1\n",
                "line 2: expected Date + Time as an ISO 8601",
            ),
            ("ts,Open,High,Low,Close\n1767571200,1,2,0.5,\n", "line 2: expected Close as a pos"),
            (
                "Date,Open,High,Low,Close,Spread\n2026-01-05,1,2,0.5,1,0.00012\n",
                "line 2: expected Spread in points as a whole number (a spread in price units "
                "needs a Spread(price) header or --spread-unit price); received '0.00012'",
            ),
            ("Date,Open,High,Low,Close\n2026-01-05,1,2,0.5,1,7\n", "line 2: expected 5 fields"),
        ],
    )
    def test_rows(self, tmp_path: Path, text: str, expected: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            read_bar_file(self.write(tmp_path, text), SYMBOL, timeframe=Timeframe.D1)
        assert expected in caught.value.message
        assert caught.value.message.startswith(str(tmp_path / "bad.csv"))

    def test_adj_close_asked_but_missing(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, "Date,Open,High,Low,Close\n2026-01-05,1,2,0.5,1\n")
        with pytest.raises(InvalidInput, match="line 1: expected an Adj Close column"):
            read(path, choices=ColumnChoices(use_adj_close=True))

    def test_spread_unit_flag_against_the_header(self, tmp_path: Path) -> None:
        text = "Date,Open,High,Low,Close,Spread(points)\n2026-01-05,1,2,0.5,1,3\n"
        with pytest.raises(InvalidInput, match=r"in price \(as --spread-unit says\).*in points"):
            read(self.write(tmp_path, text), choices=ColumnChoices(spread_unit="price"))

    def test_header_without_a_time_column(self, tmp_path: Path) -> None:
        path = self.write(tmp_path, "when,Open,High,Low,Close\n2026-01-05,1,2,0.5,1\n")
        with pytest.raises(InvalidInput, match="line 1: expected an MT5 tick export header"):
            read(path)


class TestEpochMagnitudes:
    @pytest.mark.parametrize(
        ("value", "ms"),
        [
            (1_767_571_200, 1_767_571_200_000),  # seconds (below 10**11)
            (99_999_999_999, 99_999_999_999_000),  # the largest seconds: year 5138
            (100_000_000_000, 100_000_000_000),  # the smallest milliseconds: 1973-03-03
            (1_767_571_200_000, 1_767_571_200_000),
            (1_767_571_200_000_000, 1_767_571_200_000),  # microseconds (from 10**14)
            (1_767_571_200_000_000_000, 1_767_571_200_000),  # nanoseconds (from 10**17)
            (1_767_571_200.5, 1_767_571_200_500),
        ],
    )
    def test_thresholds(self, value: float, ms: int) -> None:
        assert epoch_to_ms(value) == ms

    def test_compact_date_is_not_an_epoch(self, tmp_path: Path) -> None:
        path = tmp_path / "d.csv"
        path.write_text("Date,Open,High,Low,Close\n20260105,1,2,0.5,1\n")
        [bar] = read_bar_file(path, SYMBOL, timeframe=Timeframe.D1)
        assert bar.ts == int(START.timestamp() * 1000)


class TestEveryCommandReadsThroughTheOneReader:
    def test_backtest_on_a_pandas_file_equals_the_canonical(self, tmp_path: Path) -> None:
        from chainflow.cli import app

        canonical_file = canonical_csv(tmp_path / "EURUSD_M5.csv")
        shaped = tmp_path / "EURUSD_pandas.csv"
        frame = pandas_frame("Europe/Berlin")
        frame["Adj Close"] = frame["Close"]
        frame["rsi"] = 50.0
        frame.to_csv(shaped)
        runner = CliRunner()
        args = [
            "backtest",
            "--strategy",
            "sma_crossover",
            "--param",
            "fast=10",
            "--param",
            "slow=30",
            "--json",
        ]
        results = []
        for path in (canonical_file, shaped):
            result = runner.invoke(app, [*args, "--data", str(path)], env={"COLUMNS": "200"})
            assert result.exit_code == 0, result.output
            results.append(json.loads(result.stdout))
            warnings = [line for line in result.stderr.splitlines() if "ignoring" in line]
            assert len(warnings) == (1 if path == shaped else 0)
        expected, got = results
        for key in ("trades", "final_equity", "return_pct", "sharpe", "bars", "timeframe"):
            assert got[key] == expected[key], key
        assert expected["trades"] > 0

    def test_train_reads_the_same_bars(self, tmp_path: Path, canonical: list) -> None:
        from chainflow.ml.training.command import _bars_of_file

        shaped = tmp_path / "EURUSD_pandas.csv"
        pandas_frame("Asia/Kolkata").to_csv(shaped)
        bars, _source = _bars_of_file(shaped, SYMBOL, TF, (None, None))
        assert bars == canonical
