"""History importers: format detection, parsing, idempotent storage and the import command."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from chainflow.bridge.bar_table import BAR_TABLE, latest_bars
from chainflow.bridge.import_formats import detect_format, iter_chunks, utc_offset_ms
from chainflow.bridge.importers import (
    ImportJob,
    ImportReport,
    ImportRunner,
    ProgressCallback,
    import_file,
    make_import_command,
)
from chainflow.core.errors import InvalidInput
from chainflow.core.ids import TenantId
from chainflow.core.market import Tick, Timeframe
from chainflow.core.settings import TimeSeriesSettings
from chainflow.storage.api import TimeSeriesStore
from chainflow.storage.timeseries import open_timeseries
from tests.fixtures.settings import register_embedded_user

TENANT = TenantId("tenant-importers")
TICK_HEADER = "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>"
BAR_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"
FAR_END = 2**62


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def write(path: Path, lines: list[str], *, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode(encoding))
    return path


def tick_lines() -> list[str]:
    return [
        TICK_HEADER,
        "2026.01.05\t00:00:00.100\t1.08500\t1.08510\t\t1\t6",
        "2026.01.05\t00:00:00.250\t1.08502\t\t\t\t2",  # ask carried forward
        "2026.01.05\t00:00:01.000\t\t1.08515\t\t2\t4",  # bid carried forward
        "2026.01.05\t00:00:02.500\t1.08490\t1.08500\t\t\t6",
    ]


EXPECTED_TICKS = [
    Tick("EURUSD", ms("2026-01-05T00:00:00.100"), 1.085, 1.0851, 1.0),
    Tick("EURUSD", ms("2026-01-05T00:00:00.250"), 1.08502, 1.0851, 0.0),
    Tick("EURUSD", ms("2026-01-05T00:00:01"), 1.08502, 1.08515, 2.0),
    Tick("EURUSD", ms("2026-01-05T00:00:02.500"), 1.0849, 1.085, 0.0),
]


def parsed(path: Path, fmt: Any, **kwargs: Any) -> list[Any]:
    return [row for chunk in iter_chunks(path, fmt, "EURUSD", **kwargs) for row in chunk.rows]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TimeSeriesStore]:
    opened = open_timeseries(f"duckdb:///{tmp_path / 'ts.duckdb'}", TimeSeriesSettings())
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()


class TestParsing:
    @pytest.mark.parametrize(
        ("encoding", "newline"),
        [("utf-8", "\n"), ("utf-8", "\r\n"), ("utf-8-sig", "\r\n"), ("utf-16", "\r\n")],
    )
    def test_mt5_ticks_carry_missing_side_in_any_encoding(
        self, tmp_path: Path, encoding: str, newline: str
    ) -> None:
        path = write(tmp_path / "t.tsv", tick_lines(), encoding=encoding, newline=newline)
        if encoding == "utf-16":
            assert path.read_bytes()[:2] == b"\xff\xfe"  # LE with BOM on this platform
        assert detect_format(path) == "mt5-ticks"
        assert parsed(path, "mt5-ticks") == EXPECTED_TICKS

    def test_utf16_le_without_bom(self, tmp_path: Path) -> None:
        path = write(tmp_path / "t.tsv", tick_lines(), encoding="utf-16-le", newline="\r\n")
        assert parsed(path, detect_format(path)) == EXPECTED_TICKS

    def test_rows_without_a_quote_are_counted_not_stored(self, tmp_path: Path) -> None:
        lines = [TICK_HEADER, "2026.01.05\t00:00:00.000\t\t1.1\t\t\t4", *tick_lines()[1:2]]
        chunks = list(iter_chunks(write(tmp_path / "t.tsv", lines), "mt5-ticks", "EURUSD"))
        assert [len(c.rows) for c in chunks] == [1]
        assert chunks[-1].rows_without_quote == 1

    def test_tz_offset_shifts_server_time_to_utc(self, tmp_path: Path) -> None:
        path = write(tmp_path / "t.tsv", tick_lines())
        ticks = parsed(path, "mt5-ticks", tz_offset_ms=2 * 3_600_000)
        assert ticks[0].ts == ms("2026-01-04T22:00:00.100")

    def test_chunks_are_bounded(self, tmp_path: Path) -> None:
        path = write(tmp_path / "t.tsv", tick_lines())
        chunks = list(iter_chunks(path, "mt5-ticks", "EURUSD", chunk_rows=3))
        assert [len(c.rows) for c in chunks] == [3, 1]
        assert chunks[-1].bytes_read == path.stat().st_size

    def test_mt5_bars_with_spread_in_points(self, tmp_path: Path) -> None:
        lines = [
            BAR_HEADER,
            "2026.01.05\t10:00:00\t1.08500\t1.08600\t1.08400\t1.08550\t12\t30\t8",
            "2026.01.05\t10:05:00\t1.08550\t1.08560\t1.08540\t1.08545\t3\t0\t10",
        ]
        path = write(tmp_path / "b.tsv", lines, newline="\r\n")
        assert detect_format(path) == "mt5-bars"
        bars = parsed(path, "mt5-bars", timeframe=Timeframe.M5)
        first = bars[0]
        assert (first.ts, first.timeframe) == (ms("2026-01-05T10:00"), Timeframe.M5)
        assert (first.open, first.high, first.low, first.close) == (1.085, 1.086, 1.084, 1.0855)
        assert (first.tick_count, first.volume) == (12, 30.0)
        assert first.spread_min == first.spread_max == pytest.approx(0.00008)
        assert first.spread_mean == pytest.approx(0.00008)
        assert bars[1].spread_min == pytest.approx(0.0001)

    def test_daily_mt5_bars_without_time(self, tmp_path: Path) -> None:
        header = "<DATE>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"
        path = write(tmp_path / "d.tsv", [header, "2026.01.05\t1.1\t1.2\t1.0\t1.15\t100\t0\t5"])
        [bar] = parsed(path, "mt5-bars", timeframe=Timeframe.D1)
        assert (bar.ts, bar.close, bar.tick_count) == (ms("2026-01-05"), 1.15, 100)

    @pytest.mark.parametrize(
        ("header", "date"),
        [
            ("Date,Open,High,Low,Close,Volume", "2026-01-05 10:01:00"),
            ("date;open;high;low;close;volume", "2026-01-05T10:01:00Z"),
            ("DATE,OPEN,HIGH,LOW,CLOSE,VOLUME", str(ms("2026-01-05T10:01"))),
            ("ts,open,high,low,close,volume", str(ms("2026-01-05T10:01"))),  # our own bars
        ],
    )
    def test_generic_csv_any_case(self, tmp_path: Path, header: str, date: str) -> None:
        sep = ";" if ";" in header else ","
        row = sep.join([date, "1.1", "1.3", "1.0", "1.2", "42"])
        path = write(tmp_path / "c.csv", [header, row])
        assert detect_format(path) == "csv"
        [bar] = parsed(path, "csv")
        assert (bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            ms("2026-01-05T10:01"),
            1.1,
            1.3,
            1.0,
            1.2,
            42.0,
        )

    def test_daily_csv_dates(self, tmp_path: Path) -> None:
        path = write(tmp_path / "c.csv", ["Date,Open,High,Low,Close", "2026-01-06,1,2,0.5,1.5"])
        [bar] = parsed(path, "csv", timeframe=Timeframe.D1)
        assert (bar.ts, bar.volume) == (ms("2026-01-06"), 0.0)


class TestErrors:
    @pytest.mark.parametrize(
        ("row", "expected"),
        [
            ("2026.01.05\t00:00:03.000\tabc\t1.1\t\t\t6", "<BID> as a positive number"),
            ("2026.13.05\t00:00:03.000\t1.1\t1.2\t\t\t6", "<DATE> as YYYY.MM.DD"),
            ("2026.01.05\t25:00:03.000\t1.1\t1.2\t\t\t6", "<TIME> as HH:MM"),
            ("2026.01.05\t00:00:03.000\t1.1\t1.2", "7 fields"),
            ("2026.01.05\t00:00:03.000\t1.2\t1.1\t\t\t6", "<ASK> >= <BID>"),
        ],
    )
    def test_malformed_tick_row_names_file_and_line(
        self, tmp_path: Path, row: str, expected: str
    ) -> None:
        path = write(tmp_path / "bad.tsv", [*tick_lines(), "", row], newline="\r\n")
        with pytest.raises(InvalidInput) as caught:
            parsed(path, "mt5-ticks")
        assert f"{path}: line 7: expected {expected}" in caught.value.message
        assert "received" in caught.value.message

    def test_misaligned_bar_is_rejected(self, tmp_path: Path) -> None:
        path = write(tmp_path / "c.csv", ["Date,Open,High,Low,Close", "2026-01-05 10:03,1,2,0.5,1"])
        with pytest.raises(InvalidInput, match="line 2: expected a bar open time aligned to M5"):
            parsed(path, "csv", timeframe=Timeframe.M5)

    def test_inconsistent_ohlc_is_rejected(self, tmp_path: Path) -> None:
        path = write(tmp_path / "c.csv", ["Date,Open,High,Low,Close", "2026-01-05,1,0.9,0.5,1"])
        with pytest.raises(InvalidInput, match="line 2: expected LOW <= OPEN, CLOSE <= HIGH"):
            parsed(path, "csv")

    def test_unknown_header(self, tmp_path: Path) -> None:
        path = write(tmp_path / "x.csv", ["a,b,c", "1,2,3"])
        with pytest.raises(InvalidInput, match="line 1: expected an MT5 tick export header"):
            detect_format(path)

    def test_header_of_another_format(self, tmp_path: Path) -> None:
        path = write(tmp_path / "t.tsv", tick_lines())
        with pytest.raises(InvalidInput, match="a header of the csv format"):
            parsed(path, "csv")


class TestImport:
    async def test_ticks_scan_back_exactly_and_reimport_adds_nothing(
        self, tmp_path: Path, store: TimeSeriesStore
    ) -> None:
        path = write(tmp_path / "t.tsv", [*tick_lines(), tick_lines()[1]], encoding="utf-16")
        seen: list[tuple[int, int]] = []
        report = await import_file(
            store,
            TENANT,
            path,
            "eurusd",
            "auto",
            Timeframe.M1,
            lambda b, n: seen.append((b, n)),
            chunk_rows=2,
        )
        assert (report.format, report.rows_read, report.rows_stored) == ("mt5-ticks", 5, 4)
        assert report.duplicates_skipped == 1  # the repeated first row, caught across chunks
        assert (report.first_ts, report.last_ts) == (EXPECTED_TICKS[0].ts, EXPECTED_TICKS[-1].ts)
        assert seen[-1] == (path.stat().st_size, 5)
        assert await store.scan_ticks(TENANT, "EURUSD", 0, FAR_END) == EXPECTED_TICKS
        again = await import_file(store, TENANT, path, "EURUSD")
        assert (again.rows_stored, again.duplicates_skipped) == (0, 5)
        assert await store.scan_ticks(TENANT, "EURUSD", 0, FAR_END) == EXPECTED_TICKS

    async def test_overlapping_file_stores_only_new_ticks(
        self, tmp_path: Path, store: TimeSeriesStore
    ) -> None:
        first = write(tmp_path / "a.tsv", tick_lines()[:3])
        second = write(tmp_path / "b.tsv", tick_lines())
        await import_file(store, TENANT, first, "EURUSD")
        report = await import_file(store, TENANT, second, "EURUSD")
        assert (report.rows_read, report.rows_stored, report.duplicates_skipped) == (4, 2, 2)
        stored = await store.scan_ticks(TENANT, "EURUSD", 0, FAR_END)
        assert [(t.ts, t.bid, t.ask) for t in stored] == [
            (t.ts, t.bid, t.ask) for t in EXPECTED_TICKS
        ]

    async def test_bars_are_idempotent_per_timeframe(
        self, tmp_path: Path, store: TimeSeriesStore
    ) -> None:
        rows = [f"2026-01-05 10:0{m}:00,1.1,1.3,1.0,1.2,{m}" for m in range(4)]
        first = write(tmp_path / "a.csv", ["Date,Open,High,Low,Close,Volume", *rows[:3]])
        second = write(tmp_path / "b.csv", ["Date,Open,High,Low,Close,Volume", *rows[1:]])
        assert (await import_file(store, TENANT, first, "EURUSD")).rows_stored == 3
        assert (await import_file(store, TENANT, first, "EURUSD")).rows_stored == 0
        report = await import_file(store, TENANT, second, "EURUSD")
        assert (report.rows_stored, report.duplicates_skipped) == (1, 2)
        m5 = write(tmp_path / "m5.csv", ["Date,Open,High,Low,Close,Volume", rows[0]])
        other = await import_file(store, TENANT, m5, "EURUSD", "csv", Timeframe.M5)
        assert other.rows_stored == 1  # same open time, another timeframe: a new bar
        stored = latest_bars(
            await store.scan(
                BAR_TABLE.name, tenant_id=TENANT, symbol="EURUSD", start_ms=0, end_ms=FAR_END
            )
        )
        m1 = [row for row in stored if row["timeframe"] == "M1"]
        assert [row["volume"] for row in m1] == [0.0, 1.0, 2.0, 3.0]


def _runner_for(home: Path) -> ImportRunner:
    """An import runner on a tool-mode kernel of ``home`` (as the CLI's without a server)."""
    import asyncio

    from chainflow.runtime.kernel import Kernel
    from chainflow.runtime.operator_tasks import import_for_email
    from tests.fixtures.settings import embedded_settings

    async def on_kernel(job: ImportJob, progress: ProgressCallback) -> ImportReport:
        kernel = Kernel(embedded_settings(home), services="hub,storage,users")
        await kernel.start(serving=False)
        await kernel.infra.timeseries.start()
        try:
            return await import_for_email(kernel, job, progress)
        finally:
            await kernel.infra.timeseries.close()
            await kernel.stop()

    def run_import(job: ImportJob, progress: ProgressCallback) -> ImportReport:
        return asyncio.run(on_kernel(job, progress))

    return run_import


class TestCommand:
    def test_import_twice_then_bad_file(self, tmp_path: Path) -> None:
        home = tmp_path / "home"
        register_embedded_user(home, "trader@example.com")
        app = typer.Typer()
        app.command("import")(make_import_command(_runner_for(home)))
        app.command("noop")(lambda: None)  # keep `import` a sub-command
        runner = CliRunner()
        path = write(tmp_path / "t.tsv", tick_lines(), encoding="utf-16", newline="\r\n")
        args = ["import", str(path), "--symbol", "EURUSD", "--email", "trader@example.com"]

        first = runner.invoke(app, args)
        assert first.exit_code == 0, first.output
        assert "4 rows read, 4 stored, 0 duplicates skipped" in first.output
        second = runner.invoke(app, args)
        assert second.exit_code == 0, second.output
        assert "0 stored, 4 duplicates skipped" in second.output

        bad = write(tmp_path / "bad.tsv", [*tick_lines(), "2026.01.05\tnoon\t1\t1\t\t\t6"])
        failed = runner.invoke(app, ["import", str(bad), *args[2:]])
        assert failed.exit_code == 1
        assert "line 6: expected <TIME>" in failed.output
        assert "Traceback" not in failed.output
        unknown = runner.invoke(app, [*args[:4], "--email", "nobody@example.com"])
        assert unknown.exit_code == 1 and "Traceback" not in unknown.output
        bad_tf = runner.invoke(app, [*args, "--timeframe", "M2"])
        assert bad_tf.exit_code == 1 and "M2" in bad_tf.output


class TestReadBarFile:
    def test_sample_bar_file_reads_back_ordered_and_ticks_are_refused(self, tmp_path: Path) -> None:
        from chainflow.bridge.api import read_bar_file
        from chainflow.demo.sample_data import SampleMarketConfig
        from chainflow.demo.sample_files import write_sample_files

        config = SampleMarketConfig(symbols=("EURUSD",), days=2)
        (summary,) = write_sample_files(config, tmp_path, timeframe=Timeframe.M5)
        bar_files = [p for p in summary.paths if "_M5" in p.name]  # MT5 export and CSV
        ticks = [p for p in summary.paths if "ticks" in p.name.lower()]
        assert bar_files and ticks, summary.paths

        for path in bar_files:
            bars = read_bar_file(path, "EURUSD", timeframe=Timeframe.M5)

            assert len(bars) > 100
            assert [b.ts for b in bars] == sorted({b.ts for b in bars})
            assert all(b.low <= b.close <= b.high for b in bars)
        with pytest.raises(InvalidInput, match="expected a bar file"):
            read_bar_file(ticks[0], "EURUSD")


class TestTzOffset:
    @pytest.mark.parametrize("hours", [float("nan"), float("inf"), -float("inf"), -1e6, 14.5])
    def test_offsets_outside_civil_time_are_refused(self, hours: float) -> None:
        with pytest.raises(InvalidInput, match="between -14 and \\+14 hours"):
            utc_offset_ms(hours)

    def test_offsets_within_civil_time_are_milliseconds(self) -> None:
        assert [utc_offset_ms(h) for h in (-12, 0, 5.75, 14)] == [
            -12 * 3_600_000,
            0,
            20_700_000,
            14 * 3_600_000,
        ]

    def test_parser_refuses_an_out_of_range_offset(self, tmp_path: Path) -> None:
        path = write(tmp_path / "t.tsv", tick_lines())
        with pytest.raises(InvalidInput, match="UTC offset"):
            parsed(path, "mt5-ticks", tz_offset_ms=-1_000_000 * 3_600_000)

    @pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1e6", "15"])
    def test_command_answers_one_line_and_exit_code_2(self, tmp_path: Path, value: str) -> None:
        home = tmp_path / "home"
        app = typer.Typer()
        app.command("import")(make_import_command(_runner_for(home)))
        app.command("noop")(lambda: None)  # keep `import` a sub-command
        path = write(tmp_path / "t.tsv", tick_lines())
        args = ["import", str(path), "--symbol", "EURUSD", "--email", "trader@example.com"]

        result = CliRunner().invoke(app, [*args, f"--tz-offset-hours={value}"])

        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1, result.output
        assert "--tz-offset-hours" in lines[0] and "between -14 and +14 hours" in lines[0]
        assert not home.exists()  # refused before any kernel or store was opened


class TestBarFileShapes:
    """``chainflow import`` reads through the same reader as ``train`` and ``backtest``."""

    async def test_pandas_and_yfinance_shapes_store_the_canonical_bars(
        self, tmp_path: Path, store: TimeSeriesStore
    ) -> None:
        from dataclasses import replace

        from chainflow.bridge.api import read_bars
        from chainflow.bridge.bar_files import ColumnChoices
        from tests.bridge.test_bar_files import canonical_csv, pandas_frame

        canonical = canonical_csv(tmp_path / "canonical.csv")
        shaped = tmp_path / "yf.csv"
        frame = pandas_frame("America/New_York")
        frame.insert(4, "Adj Close", frame["Close"])
        frame["Spread(price)"] = 0.00012
        frame.index.name = "Datetime"
        frame.to_csv(shaped)
        notes: list[str] = []
        tenants = (TenantId("tenant-canonical"), TenantId("tenant-shaped"))
        await import_file(store, tenants[0], canonical, "EURUSD", "auto", Timeframe.M5)
        report = await import_file(
            store,
            tenants[1],
            shaped,
            "EURUSD",
            "auto",
            Timeframe.M5,
            choices=ColumnChoices(use_adj_close=True),
            warn=notes.append,
        )
        assert report.format == "csv" and report.rows_stored == report.rows_read > 0
        assert notes == []  # Adj Close used, Spread(price) read: nothing ignored
        stored = [
            await read_bars(store, t, "EURUSD", Timeframe.M5, end_ms=FAR_END, count=10_000)
            for t in tenants
        ]
        expected = [replace(b.as_bar(), tick_count=1) for b in stored[0]]  # a tick per spread
        assert [b.as_bar() for b in stored[1]] == expected
        assert {b.spread_mean for b in stored[1]} == {0.00012}

    def test_import_job_carries_the_column_choices(self, tmp_path: Path) -> None:
        from chainflow.bridge.bar_files import ColumnChoices
        from chainflow.bridge.importers import ImportJob

        choices = ColumnChoices(use_adj_close=True, spread_unit="price")
        job = ImportJob(tmp_path / "f.csv", "EURUSD", "a@example.com", choices=choices)
        assert ImportJob.from_json(job.to_json()).choices == choices
        with pytest.raises(InvalidInput, match="expected --spread-unit points or price"):
            ImportJob.from_json({**job.to_json(), "spread_unit": "pips"})

    def test_ignored_columns_are_named_once_before_the_import(self, tmp_path: Path) -> None:
        from chainflow.bridge.bar_files import ColumnChoices, warn_ignored_columns

        lines = [",Open,High,Low,Close,Volume,rsi", "2026-01-05,1,2,0.5,1,3,50"]
        path = write(tmp_path / "x.csv", lines)
        notes: list[str] = []
        warn_ignored_columns(path, "auto", ColumnChoices(), notes.append)
        warn_ignored_columns(path, "mt5-bars", ColumnChoices(), notes.append)  # not that format
        assert notes == ["x.csv: ignoring columns rsi"]
