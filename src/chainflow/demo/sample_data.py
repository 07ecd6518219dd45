"""Sample data: what the synthetic market generates, and the ``sample-data`` command.

This module holds the configuration (symbols and their specs, tick rates per session) and
the Typer command. It imports no NumPy, so the CLI stays quick to load. The model, with its
sessions, regimes and correlations, is in ``sample_market``; the file writers are in
``sample_files``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainflow.core.errors import ChainflowError, InvalidInput
from chainflow.core.market import Timeframe

if TYPE_CHECKING:
    from chainflow.demo.sample_files import SampleFileSummary
    from chainflow.demo.sample_market import Session

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
MIN_TICK_INTERVAL_S = 0.2  # two of the model's 100 ms arrival slots
MAX_DAYS = 36_600


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """How one symbol trades: start price, digits, typical spread and base volatility.

    ``annual_volatility`` is that of the diffusion before regime effects. ``usd_beta`` is how
    much of a dollar trend the symbol follows: positive when its price rises as the US dollar
    weakens (EURUSD), negative when it falls (USDJPY). ``tick_rate`` multiplies the session
    tick rate.
    """

    symbol: str
    start_price: float
    digits: int
    typical_spread_points: int
    annual_volatility: float
    usd_beta: float = 1.0
    tick_rate: float = 1.0

    def __post_init__(self) -> None:
        checks = (
            ("symbol", self.symbol.isalnum() and self.symbol.isupper(), "upper-case alphanumeric"),
            ("digits", 0 <= self.digits <= 8, "an integer from 0 to 8"),
            ("start_price", self.start_price > 0, "a positive price"),
            ("typical_spread_points", self.typical_spread_points >= 1, "at least 1"),
            ("annual_volatility", 0 <= self.annual_volatility < 2, "in [0, 2)"),
            ("usd_beta", 0 < abs(self.usd_beta) <= 2, "non-zero and in [-2, 2]"),
            ("tick_rate", 0 < self.tick_rate <= 2, "in (0, 2]"),
        )
        for field_name, is_valid, expected in checks:
            if not is_valid:
                raise InvalidInput(
                    f"{field_name} of symbol spec {self.symbol!r} must be {expected}; "
                    f"received {getattr(self, field_name)!r}"
                )


KNOWN_SYMBOL_SPECS: Mapping[str, SymbolSpec] = {
    spec.symbol: spec
    for spec in (
        SymbolSpec("EURUSD", 1.085, 5, 12, 0.07, usd_beta=1.0, tick_rate=1.0),
        SymbolSpec("GBPUSD", 1.27, 5, 16, 0.08, usd_beta=0.85, tick_rate=0.9),
        SymbolSpec("USDJPY", 148.5, 3, 14, 0.09, usd_beta=-0.5, tick_rate=0.85),
        SymbolSpec("AUDUSD", 0.66, 5, 14, 0.09, usd_beta=0.8, tick_rate=0.7),
        SymbolSpec("USDCHF", 0.88, 5, 16, 0.07, usd_beta=-0.9, tick_rate=0.6),
    )
}


@dataclass(frozen=True, slots=True)
class SessionTickIntervals:
    """Mean seconds between two ticks of a symbol with ``tick_rate`` 1.0, per session."""

    asia: float = 6.0
    london: float = 2.5
    london_new_york: float = 1.8
    new_york: float = 2.5
    rollover: float = 12.0

    def __post_init__(self) -> None:
        for session in fields(self):
            value = getattr(self, session.name)
            if not (math.isfinite(value) and value >= MIN_TICK_INTERVAL_S):
                raise InvalidInput(
                    f"mean tick interval for {session.name} must be a finite number of "
                    f"seconds >= {MIN_TICK_INTERVAL_S}; received {value}"
                )

    def for_session(self, session: Session) -> float:
        """Return the mean tick interval in seconds for ``session``."""
        return float(getattr(self, session.value))


@dataclass(frozen=True, slots=True)
class SampleMarketConfig:
    """What to generate: symbols, the first UTC day, how many days, the seed, tick rates.

    Symbols are upper-cased. Each needs a spec in ``KNOWN_SYMBOL_SPECS`` or in
    ``extra_specs``, which also override known ones. An unknown symbol is an error, not a
    made-up price. ``start`` must be 00:00 UTC; the default is a Monday.
    """

    symbols: tuple[str, ...] = ("EURUSD", "GBPUSD", "USDJPY")
    start: datetime = DEFAULT_START
    days: int = 30
    seed: int = 7
    tick_intervals: SessionTickIntervals = SessionTickIntervals()
    extra_specs: tuple[SymbolSpec, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.symbols, str):
            raise InvalidInput(f"symbols must be a sequence of names; received {self.symbols!r}")
        symbols = tuple(symbol.strip().upper() for symbol in self.symbols)
        if not symbols or len(set(symbols)) != len(symbols):
            raise InvalidInput(f"symbols must be distinct and non-empty; received {symbols}")
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "extra_specs", tuple(self.extra_specs))
        specs = self.symbol_specs
        for symbol in symbols:
            if symbol not in specs:
                raise InvalidInput(
                    f"symbol must be one of {', '.join(specs)} or have a SymbolSpec in "
                    f"extra_specs; received {symbol!r}"
                )
        if self.start.utcoffset() is None:
            raise InvalidInput(f"start must be timezone-aware (UTC); received {self.start}")
        start = self.start.astimezone(UTC)
        if start != datetime(start.year, start.month, start.day, tzinfo=UTC):
            raise InvalidInput(f"start must be at 00:00 UTC; received {start.isoformat()}")
        object.__setattr__(self, "start", start)
        if not 1 <= self.days <= MAX_DAYS:
            raise InvalidInput(f"days must be from 1 to {MAX_DAYS}; received {self.days}")
        if self.seed < 0:
            raise InvalidInput(f"seed must be a non-negative integer; received {self.seed}")

    @property
    def symbol_specs(self) -> dict[str, SymbolSpec]:
        """Return every spec this config can use: the known ones, then ``extra_specs``."""
        return {**KNOWN_SYMBOL_SPECS, **{spec.symbol: spec for spec in self.extra_specs}}

    @property
    def specs(self) -> tuple[SymbolSpec, ...]:
        """Return the specs of ``symbols``, in order."""
        specs = self.symbol_specs
        return tuple(specs[symbol] for symbol in self.symbols)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp()) * 1000


# --- the `chainflow sample-data` command ----------------------------------------------------


class SampleDataFormat(StrEnum):
    MT5_TICKS = "mt5-ticks"
    MT5_BARS = "mt5-bars"
    CSV = "csv"
    ALL = "all"


def sample_data_command(
    symbols: Annotated[
        str, typer.Option(help=f"comma-separated symbols from {', '.join(KNOWN_SYMBOL_SPECS)}")
    ] = "EURUSD,GBPUSD,USDJPY",
    days: Annotated[int, typer.Option(help="calendar days to generate (weekends are empty)")] = 30,
    out: Annotated[Path, typer.Option(help="output directory, created if missing")] = Path(
        "sample-data"
    ),
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same files")] = 7,
    file_format: Annotated[
        SampleDataFormat, typer.Option("--format", help="which files to write")
    ] = SampleDataFormat.ALL,
    timeframe: Annotated[
        str, typer.Option(help=f"bar timeframe: {', '.join(t.value for t in Timeframe)}")
    ] = "M1",
    start: Annotated[str, typer.Option(help="first UTC day, YYYY-MM-DD")] = "2026-01-05",
) -> None:
    """Generate a deterministic synthetic FX market and write MT5 exports and CSV files.

    Writes SYMBOL_ticks.tsv, SYMBOL_<TF>.tsv (MT5), SYMBOL_<TF>.csv and SYMBOL_regimes.csv.
    """
    from chainflow.demo.sample_files import SampleFileKind, write_sample_files

    try:
        config = SampleMarketConfig(
            symbols=tuple(s for s in symbols.split(",") if s.strip()),
            start=_parse_start(start),
            days=days,
            seed=seed,
        )
        bar_timeframe = _parse_timeframe(timeframe)
    except ChainflowError as e:
        _fail(e.message)
    kinds = {
        SampleDataFormat.MT5_TICKS: [SampleFileKind.MT5_TICKS],
        SampleDataFormat.MT5_BARS: [SampleFileKind.MT5_BARS],
        SampleDataFormat.CSV: [SampleFileKind.OHLCV_CSV],
        SampleDataFormat.ALL: [
            SampleFileKind.MT5_TICKS,
            SampleFileKind.MT5_BARS,
            SampleFileKind.OHLCV_CSV,
        ],
    }[file_format]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    began = time.perf_counter()
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        task = progress.add_task("generating", total=config.days)
        try:
            summaries = write_sample_files(
                config,
                out,
                [*kinds, SampleFileKind.REGIMES],
                bar_timeframe,
                on_day=lambda day: progress.update(task, advance=1, description=str(day.day)),
            )
        except OSError as e:
            _fail(f"cannot write sample files to {out}: {e}")
    _print_summary(summaries, out, time.perf_counter() - began)


def _parse_start(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError as e:
        raise InvalidInput(f"start must be a date like 2026-01-05; received {value!r}") from e
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _parse_timeframe(value: str) -> Timeframe:
    try:
        return Timeframe(value.strip().upper())
    except ValueError as e:
        expected = ", ".join(t.value for t in Timeframe)
        raise InvalidInput(f"timeframe must be one of {expected}; received {value!r}") from e


def _print_summary(summaries: list[SampleFileSummary], out: Path, elapsed_s: float) -> None:
    table = Table(title="Sample data")
    for column in ("symbol", "ticks", "first tick (UTC)", "last tick (UTC)", "files"):
        table.add_column(column)
    for summary in summaries:
        table.add_row(
            summary.symbol,
            f"{summary.tick_count:,}",
            _format_ms(summary.first_ts_ms),
            _format_ms(summary.last_ts_ms),
            "\n".join(path.name for path in summary.paths),
        )
    console = Console(soft_wrap=True)
    console.print(table)
    total = sum(summary.tick_count for summary in summaries)
    console.print(f"{total:,} ticks written to {out} in {elapsed_s:.1f} s", highlight=False)


def _format_ms(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    seconds = datetime.fromtimestamp(ts_ms // 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{seconds}.{ts_ms % 1000:03d}"


def _fail(message: str) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)
