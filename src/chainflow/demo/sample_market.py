"""Deterministic synthetic FX market for demos, tests and benchmarks.

The model works one UTC calendar day (one chunk) at a time:

1. A market-wide regime follows a Markov chain on a one-minute grid: calm, US dollar
   weakening, US dollar strengthening, volatile. A symbol labels it calm, trend up, trend
   down or volatile, depending on whether its price rises when the dollar weakens.
2. Mid prices follow a one-second grid of correlated returns (Cholesky factor of a fixed
   correlation table). The regime and the session of the UTC hour scale the volatility, and
   the regime adds a drift. The Sunday open adds a gap.
3. Ticks arrive in 100 ms slots with a probability set by the session's mean tick interval,
   the symbol's activity and the regime. Each tick lands on a random millisecond inside its
   slot, so timestamps are strictly increasing per symbol. The market is closed from Friday
   22:00 to Sunday 22:00 UTC. As in MT5, a tick that changes neither bid nor ask is dropped.
4. Each tick's mid gets microstructure noise. The spread widens in quiet hours and in the
   volatile regime. Bid and ask are whole points, so prices sit exactly on the symbol's
   digits and ``ask >= bid`` always holds.

Determinism: day ``i`` draws from its own generator seeded with ``(seed, i)``, so output
depends only on the config and NumPy's random streams, and a longer run begins with the
same days as a shorter one. The model uses only correctly rounded arithmetic (+ - * / and
square root), sequential cumulative products and no BLAS, so CPU, SIMD and linear-algebra
library do not change the output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

from chainflow.core.errors import InvalidInput
from chainflow.core.market import Tick

if TYPE_CHECKING:
    from chainflow.demo.sample_data import SampleMarketConfig, SymbolSpec

Int64Array: TypeAlias = npt.NDArray[np.int64]
Int8Array: TypeAlias = npt.NDArray[np.int8]
Float64Array: TypeAlias = npt.NDArray[np.float64]

MS_PER_DAY = 86_400_000
SECONDS_PER_DAY = 86_400
SLOT_MS = 100
TRADING_DAYS_PER_YEAR = 260


class Session(StrEnum):
    ASIA = "asia"
    LONDON = "london"
    LONDON_NEW_YORK = "london_new_york"
    NEW_YORK = "new_york"
    ROLLOVER = "rollover"


def session_at_hour(hour: int) -> Session:
    """Return the trading session of a UTC hour (0-23)."""
    if 7 <= hour < 12:
        return Session.LONDON
    if 12 <= hour < 16:
        return Session.LONDON_NEW_YORK
    if 16 <= hour < 21:
        return Session.NEW_YORK
    if hour == 21:
        return Session.ROLLOVER
    return Session.ASIA


class Regime(IntEnum):
    """Hidden market regime as one symbol sees it; the label of each generated tick."""

    CALM = 0
    TREND_UP = 1
    TREND_DOWN = 2
    VOLATILE = 3


# Correlation of returns (positive definite); symbols from extra specs are uncorrelated.
_CORRELATIONS: dict[frozenset[str], float] = {
    frozenset((a, b)): value
    for a, b, value in (
        ("EURUSD", "GBPUSD", 0.7),
        ("EURUSD", "USDJPY", -0.3),
        ("EURUSD", "AUDUSD", 0.6),
        ("EURUSD", "USDCHF", -0.85),
        ("GBPUSD", "USDJPY", -0.25),
        ("GBPUSD", "AUDUSD", 0.55),
        ("GBPUSD", "USDCHF", -0.6),
        ("USDJPY", "AUDUSD", -0.15),
        ("USDJPY", "USDCHF", 0.45),
        ("AUDUSD", "USDCHF", -0.5),
    )
}


def correlation(symbol_a: str, symbol_b: str) -> float:
    """Return the model's correlation of returns between two symbols."""
    if symbol_a == symbol_b:
        return 1.0
    return _CORRELATIONS.get(frozenset((symbol_a, symbol_b)), 0.0)


# Per session: volatility scale, spread multiplier, largest tick volume.
_SESSION_EFFECTS: dict[Session, tuple[float, float, int]] = {
    Session.ASIA: (0.6, 1.3, 3),
    Session.LONDON: (1.15, 0.9, 6),
    Session.LONDON_NEW_YORK: (1.35, 0.85, 8),
    Session.NEW_YORK: (1.0, 1.0, 6),
    Session.ROLLOVER: (0.4, 2.5, 2),
}


@dataclass(frozen=True, slots=True)
class _RegimeEffect:
    volatility: float
    drift_day_sigmas: float  # daily sigmas per day, for a symbol with usd_beta 1.0
    spread: float
    tick_rate: float
    mean_minutes: float
    leave_to: tuple[float, float, float, float]  # where the chain goes when it leaves


# Market states use the Regime numbers of a symbol that rises when the dollar weakens.
_REGIME_EFFECTS: tuple[_RegimeEffect, ...] = (
    _RegimeEffect(0.7, 0.0, 1.0, 0.8, 180.0, (0.0, 0.35, 0.35, 0.3)),
    _RegimeEffect(1.0, 3.5, 1.1, 1.1, 120.0, (0.6, 0.0, 0.2, 0.2)),
    _RegimeEffect(1.0, -3.5, 1.1, 1.1, 120.0, (0.6, 0.2, 0.0, 0.2)),
    _RegimeEffect(2.0, 0.0, 2.0, 1.5, 45.0, (0.5, 0.25, 0.25, 0.0)),
)
_SUNDAY_GAP_DAY_SIGMAS = 0.25
_SUNDAY_OPEN_S = 22 * 3600
_NOISE_SPREADS = 0.2  # microstructure noise, in typical spreads
_SPREAD_SPIKE_PROBABILITY = 0.002


@dataclass(frozen=True, slots=True, eq=False)
class SymbolTicks:
    """One symbol's ticks of one chunk as arrays; a price is ``points / 10**digits``."""

    symbol: str
    digits: int
    ts_ms: Int64Array
    bid_points: Int64Array
    ask_points: Int64Array
    volume: Int64Array
    regime: Int8Array  # Regime values

    def __len__(self) -> int:
        return len(self.ts_ms)

    @property
    def bid(self) -> Float64Array:
        return self.bid_points / float(10**self.digits)

    @property
    def ask(self) -> Float64Array:
        return self.ask_points / float(10**self.digits)

    def to_ticks(self) -> list[Tick]:
        """Return the ticks as ``Tick`` objects."""
        rows = zip(
            self.ts_ms.tolist(),
            self.bid.tolist(),
            self.ask.tolist(),
            self.volume.tolist(),
            strict=True,
        )
        return [Tick(self.symbol, ts, bid, ask, float(vol)) for ts, bid, ask, vol in rows]


@dataclass(frozen=True, slots=True, eq=False)
class SampleDay:
    """One UTC day of the sample market: each symbol's ticks, in config order."""

    day: date
    start_ms: int
    symbols: tuple[SymbolTicks, ...]

    @property
    def tick_count(self) -> int:
        return sum(len(ticks) for ticks in self.symbols)

    def to_ticks(self) -> list[Tick]:
        """Return every symbol's ticks merged by time (ties in config symbol order)."""
        ts = np.concatenate([t.ts_ms for t in self.symbols])
        order = np.argsort(ts, kind="stable")
        names = np.repeat(np.arange(len(self.symbols)), [len(t) for t in self.symbols])[order]
        bid = np.concatenate([t.bid for t in self.symbols])[order]
        ask = np.concatenate([t.ask for t in self.symbols])[order]
        volume = np.concatenate([t.volume for t in self.symbols])[order].astype(np.float64)
        symbols = [t.symbol for t in self.symbols]
        rows = zip(
            names.tolist(),
            ts[order].tolist(),
            bid.tolist(),
            ask.tolist(),
            volume.tolist(),
            strict=True,
        )
        return [Tick(symbols[i], t, b, a, v) for i, t, b, a, v in rows]


def generate_sample_days(config: SampleMarketConfig) -> Iterator[SampleDay]:
    """Yield the sample market one UTC day at a time (empty symbols on closed days)."""
    model = _SampleMarketModel(config)
    for day_index in range(config.days):
        yield model.simulate_day(day_index)


def generate_ticks(config: SampleMarketConfig) -> Iterator[list[Tick]]:
    """Yield one list of ticks per UTC day, all symbols merged by time."""
    for day in generate_sample_days(config):
        yield day.to_ticks()


def cholesky_rows(matrix: list[list[float]]) -> list[list[float]]:
    """Return the lower Cholesky factor of a correlation matrix, in plain floats."""
    size = len(matrix)
    lower = [[0.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1):
            total = matrix[i][j] - sum(lower[i][k] * lower[j][k] for k in range(j))
            if i == j:
                if total <= 0:
                    raise InvalidInput(f"correlation matrix must be positive definite: {matrix}")
                lower[i][i] = math.sqrt(total)
            else:
                lower[i][j] = total / lower[j][j]
    return lower


class _SampleMarketModel:
    def __init__(self, config: SampleMarketConfig) -> None:
        self._config = config
        self._specs = config.specs
        names = [spec.symbol for spec in self._specs]
        self._cholesky = cholesky_rows([[correlation(a, b) for b in names] for a in names])
        sessions = [session_at_hour(hour) for hour in range(24)]
        self._hour_volatility = np.array([_SESSION_EFFECTS[s][0] for s in sessions])
        self._hour_spread = np.array([_SESSION_EFFECTS[s][1] for s in sessions])
        self._hour_max_volume = np.array([_SESSION_EFFECTS[s][2] for s in sessions])
        self._hour_interval = np.array([config.tick_intervals.for_session(s) for s in sessions])
        weekday_variance = sum(3600 * v * v for v in self._hour_volatility.tolist())
        self._day_sigmas = [
            s.annual_volatility / math.sqrt(TRADING_DAYS_PER_YEAR) for s in self._specs
        ]
        self._second_sigmas = [d / math.sqrt(weekday_variance) for d in self._day_sigmas]
        self._regime_volatility = np.array([r.volatility for r in _REGIME_EFFECTS])
        self._regime_drift = np.array([r.drift_day_sigmas for r in _REGIME_EFFECTS])
        self._regime_spread = np.array([r.spread for r in _REGIME_EFFECTS])
        self._regime_tick_rate = np.array([r.tick_rate for r in _REGIME_EFFECTS])
        self._transition_cumulative = [_cumulative_row(state) for state in range(4)]
        self._second_hour = np.repeat(np.arange(24), 3600)
        self._slot_hour = np.repeat(np.arange(24), 3_600_000 // SLOT_MS)
        self._mid_points = [s.start_price * 10**s.digits for s in self._specs]
        self._last_quote = [(-1, -1) for _ in self._specs]
        self._market_regime = int(Regime.CALM)

    def simulate_day(self, day_index: int) -> SampleDay:
        rng = np.random.default_rng([self._config.seed, day_index])
        day = self._config.start.date() + timedelta(days=day_index)
        start_ms = self._config.start_ms + day_index * MS_PER_DAY
        minute_regime = self._advance_regime(rng.random(1440).tolist())
        open_hours = _open_hours(day.weekday())
        if not open_hours.any():
            return SampleDay(day, start_ms, tuple(_no_ticks(spec) for spec in self._specs))
        mids = self._simulate_mid_paths(rng, day.weekday(), open_hours, minute_regime)
        ticks = [
            self._simulate_ticks(rng, i, start_ms, open_hours, minute_regime, mid)
            for i, mid in enumerate(mids)
        ]
        return SampleDay(day, start_ms, tuple(ticks))

    def _advance_regime(self, uniforms: list[float]) -> Int8Array:
        states = []
        state = self._market_regime
        for u in uniforms:
            row = self._transition_cumulative[state]
            state = next((j for j, edge in enumerate(row) if u < edge), 3)
            states.append(state)
        self._market_regime = state
        return np.array(states, dtype=np.int8)

    def _simulate_mid_paths(
        self,
        rng: np.random.Generator,
        weekday: int,
        open_hours: npt.NDArray[np.bool_],
        minute_regime: Int8Array,
    ) -> list[Float64Array]:
        shocks = rng.standard_normal((len(self._specs), SECONDS_PER_DAY))
        second_regime = np.repeat(minute_regime, 60)
        scale = self._hour_volatility[self._second_hour] * self._regime_volatility[second_regime]
        drift_sigmas = self._regime_drift[second_regime]
        closed = ~open_hours[self._second_hour]
        paths = []
        for i, spec in enumerate(self._specs):
            mixed = self._cholesky[i][0] * shocks[0]
            for j in range(1, i + 1):
                mixed = mixed + self._cholesky[i][j] * shocks[j]
            drift = drift_sigmas * (spec.usd_beta * self._day_sigmas[i] / SECONDS_PER_DAY)
            returns = mixed * (scale * self._second_sigmas[i]) + drift
            returns[closed] = 0.0
            if weekday == 6:  # the Sunday 22:00 open gaps from Friday's close
                gap_sigma = _SUNDAY_GAP_DAY_SIGMAS * self._day_sigmas[i]
                returns[_SUNDAY_OPEN_S] = mixed[_SUNDAY_OPEN_S] * gap_sigma
            path = self._mid_points[i] * np.cumprod(1.0 + returns)
            self._mid_points[i] = float(path[-1])
            paths.append(path)
        return paths

    def _simulate_ticks(
        self,
        rng: np.random.Generator,
        index: int,
        start_ms: int,
        open_hours: npt.NDArray[np.bool_],
        minute_regime: Int8Array,
        mid_path: Float64Array,
    ) -> SymbolTicks:
        spec = self._specs[index]
        rate_by_hour = (SLOT_MS / 1000 * spec.tick_rate) / self._hour_interval * open_hours
        slot_regime = np.repeat(minute_regime, 60_000 // SLOT_MS)
        probability = rate_by_hour[self._slot_hour] * self._regime_tick_rate[slot_regime]
        slots = np.flatnonzero(rng.random(len(probability)) < probability)
        ms_of_day = slots * SLOT_MS + rng.integers(0, SLOT_MS, size=len(slots))
        second = ms_of_day // 1000
        hour = second // 3600
        regime = minute_regime[ms_of_day // 60_000]
        noise = rng.standard_normal(len(slots)) * (_NOISE_SPREADS * spec.typical_spread_points)
        mid = mid_path[second] + noise
        jitter = 0.8 + 0.5 * rng.random(len(slots))
        spike = np.where(rng.random(len(slots)) < _SPREAD_SPIKE_PROBABILITY, 3.0, 1.0)
        spread_float = spec.typical_spread_points * self._hour_spread[hour] * jitter * spike
        spread = np.maximum(np.rint(spread_float * self._regime_spread[regime]), 1.0)
        bid = np.maximum(np.rint(mid - spread / 2), 1.0).astype(np.int64)
        ask = bid + spread.astype(np.int64)
        volume = 1 + np.floor(rng.random(len(slots)) * self._hour_max_volume[hour])
        last_bid, last_ask = self._last_quote[index]
        changed = (bid != np.r_[last_bid, bid[:-1]]) | (ask != np.r_[last_ask, ask[:-1]])
        if len(bid):
            self._last_quote[index] = (int(bid[-1]), int(ask[-1]))
        labels = regime if spec.usd_beta > 0 else np.array([0, 2, 1, 3], np.int8)[regime]
        return SymbolTicks(
            symbol=spec.symbol,
            digits=spec.digits,
            ts_ms=(start_ms + ms_of_day[changed]).astype(np.int64),
            bid_points=bid[changed],
            ask_points=ask[changed],
            volume=volume[changed].astype(np.int64),
            regime=labels[changed].astype(np.int8),
        )


def _no_ticks(spec: SymbolSpec) -> SymbolTicks:
    none = np.empty(0, dtype=np.int64)
    return SymbolTicks(spec.symbol, spec.digits, none, none, none, none, none.astype(np.int8))


def _open_hours(weekday: int) -> npt.NDArray[np.bool_]:
    hours = np.arange(24)
    if weekday == 4:  # Friday: closes at 22:00
        return hours < 22
    if weekday == 5:
        return np.zeros(24, dtype=bool)
    if weekday == 6:  # Sunday: opens at 22:00
        return hours >= 22
    return np.ones(24, dtype=bool)


def _cumulative_row(state: int) -> list[float]:
    effect = _REGIME_EFFECTS[state]
    leave = 1.0 / effect.mean_minutes
    row = [leave * weight for weight in effect.leave_to]
    row[state] = 1.0 - leave
    return list(itertools.accumulate(row))
