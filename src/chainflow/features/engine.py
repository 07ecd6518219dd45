"""Streaming feature engine: one ``FeatureSet`` computed bar by bar, O(1) per bar.

``FeatureEngine(feature_set).update(bar)`` returns the feature vector of ``bar`` (any
``core.market.OHLCV``: a ``BarRow``, a ``Bar``) as float64 in ``feature_set.names`` order
(NaN during warm-up), equal to the row of ``chainflow.features.matrix.feature_matrix`` for
the same bars (relative 1e-9). The indicators are the streaming twins of
``chainflow.features.stream``, shared between the features that read them (one MACD for
line, signal and histogram). ``snapshot()`` is strict JSON (NaN and infinities encoded)
tagged with the set's key and fingerprint; ``restore`` refuses another set's snapshot and
then continues exactly like an uninterrupted engine.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from chainflow.core.market import OHLCV
from chainflow.core.state_undo import StatePlan
from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.json_floats import decode_floats, encode_floats
from chainflow.features.normalize import (
    SCALER_TYPES,
    RollingRobustScaler,
    RollingZScoreScaler,
    Scaler,
    scalers_in,
)
from chainflow.features.sets import FeatureSet, FeatureSetMismatch, FeatureSpec, Scaling
from chainflow.features.stream.momentum import CCI, MACD, ROC, RSI, STOCH, WILLR
from chainflow.features.stream.realized import RV_CLOSE_TO_CLOSE, RV_PARKINSON, ZSCORE
from chainflow.features.stream.trend import ADX
from chainflow.features.stream.volatility import ATR, BBANDS

__all__ = [
    "DAY_OF_WEEK_COS",
    "DAY_OF_WEEK_SIN",
    "TIME_OF_DAY_COS",
    "TIME_OF_DAY_SIN",
    "FeatureEngine",
]

NAN = math.nan
MINUTE_MS = 60_000
DAY_MS = 86_400_000
# Calendar tables (shared with the batch matrix, so both give bit-identical values).
TIME_OF_DAY_SIN = tuple(math.sin(2.0 * math.pi * m / 1440.0) for m in range(1440))
TIME_OF_DAY_COS = tuple(math.cos(2.0 * math.pi * m / 1440.0) for m in range(1440))
DAY_OF_WEEK_SIN = tuple(math.sin(2.0 * math.pi * d / 7.0) for d in range(7))
DAY_OF_WEEK_COS = tuple(math.cos(2.0 * math.pi * d / 7.0) for d in range(7))


def weekday(ts_ms: int) -> int:
    """Monday 0 .. Sunday 6 of an epoch-ms UTC time (1970-01-01 was a Thursday)."""
    return (ts_ms // DAY_MS + 3) % 7


def in_session(hour: int, open_hour: int, close_hour: int) -> bool:
    if open_hour <= close_hour:
        return open_hour <= hour < close_hour
    return hour >= open_hour or hour < close_hour


class Stateful(Protocol):
    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, snapshot: dict[str, Any]) -> None: ...


Reader = Callable[[OHLCV], float]


def make_scaler(scaling: Scaling) -> Scaler | None:
    """The streaming scaler of ``scaling`` (``None`` for ``"none"``)."""
    if scaling.method == "zscore":
        return RollingZScoreScaler(scaling.window, scaling.clip, scaling.min_periods)
    if scaling.method == "robust":
        return RollingRobustScaler(scaling.window, scaling.clip, scaling.min_periods)
    return None


class ScaledReturns:
    """``ln(close / close[n bars back])``, scaled, with the last ``max_lag + 1`` outputs."""

    def __init__(self, n: int, scaling: Scaling, max_lag: int) -> None:
        self.n = n
        self.scaler = make_scaler(scaling)
        self.closes: deque[float] = deque(maxlen=n + 1)
        self.outputs: deque[float] = deque([NAN] * (max_lag + 1), maxlen=max_lag + 1)

    def update(self, bar: OHLCV) -> None:
        closes = self.closes
        closes.append(bar.close)
        r = math.log(bar.close / closes[0]) if len(closes) > self.n else NAN
        self.outputs.append(self.scaler.update(r) if self.scaler is not None else r)

    def snapshot(self) -> dict[str, Any]:
        scaler = self.scaler.snapshot() if self.scaler is not None else None
        return {"closes": list(self.closes), "outputs": list(self.outputs), "scaler": scaler}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.closes = deque(map(float, snapshot["closes"]), maxlen=self.n + 1)
        outputs = [float(v) for v in snapshot["outputs"]]
        if len(outputs) != self.outputs.maxlen:
            raise FeatureStateMismatchError(
                f"expected {self.outputs.maxlen} outputs; received {len(outputs)}"
            )
        self.outputs.extend(outputs)  # in place: the feature readers hold this deque
        if self.scaler is not None:
            self.scaler.restore(snapshot["scaler"])


class SpreadCarry:
    """The last known spread (NaN before the first one)."""

    def __init__(self) -> None:
        self.value = NAN

    def update(self, bar: OHLCV) -> None:
        if bar.spread == bar.spread:
            self.value = bar.spread

    def snapshot(self) -> dict[str, Any]:
        return {"value": self.value}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.value = float(snapshot["value"])


def on_close_only(indicator: Any) -> Callable[[OHLCV], Any]:
    """The per-bar update of an indicator fed the close."""
    return lambda bar: indicator.update(bar.close)


def on_volume(indicator: Any) -> Callable[[OHLCV], Any]:
    """The per-bar update of an indicator fed the volume."""
    return lambda bar: indicator.update(bar.volume)


def on_high_low_close(indicator: Any) -> Callable[[OHLCV], Any]:
    """The per-bar update of an indicator fed high, low and close."""
    return lambda bar: indicator.update_bar(bar.high, bar.low, bar.close)


def _percent_b(bands: BBANDS) -> Reader:
    def read(bar: OHLCV) -> float:
        width = bands.upper - bands.lower
        if width > 0.0:
            return (bar.close - bands.lower) / width
        return 0.5 if width == width else NAN

    return read


def _session(open_hour: int, close_hour: int) -> Reader:
    flags = tuple(1.0 if in_session(h, open_hour, close_hour) else 0.0 for h in range(24))
    return lambda bar: flags[bar.ts // 3_600_000 % 24]


def _calendar_reader(kind: str) -> Reader:
    if kind == "time_of_day_sin":
        return lambda bar: TIME_OF_DAY_SIN[bar.ts // MINUTE_MS % 1440]
    if kind == "time_of_day_cos":
        return lambda bar: TIME_OF_DAY_COS[bar.ts // MINUTE_MS % 1440]
    if kind == "day_of_week_sin":
        return lambda bar: DAY_OF_WEEK_SIN[(bar.ts // DAY_MS + 3) % 7]
    return lambda bar: DAY_OF_WEEK_COS[(bar.ts // DAY_MS + 3) % 7]


class FeatureEngine:
    """Streaming computation of ``feature_set``; ``update(bar)`` returns one vector."""

    def __init__(self, feature_set: FeatureSet) -> None:
        self._feature_set = feature_set
        self._components: dict[str, Stateful] = {}
        self._updaters: list[Callable[[OHLCV], Any]] = []
        self._outputs: list[Reader] = [self._compile(spec) for spec in feature_set.features]
        self._count = 0
        self._last_ts: int | None = None
        self._plan: StatePlan | None = None
        self._saved: list[Any] | None = None  # the committed state, recorded
        self._scalers: list[Scaler] = []

    @property
    def feature_set(self) -> FeatureSet:
        return self._feature_set

    @property
    def names(self) -> tuple[str, ...]:
        return self._feature_set.names

    @property
    def count(self) -> int:
        return self._count

    @property
    def last_ts(self) -> int | None:
        return self._last_ts

    @property
    def is_ready(self) -> bool:
        """Whether the warm-up is over (every output finite once spreads are known)."""
        return self._count >= self._feature_set.warmup_bars

    def update(self, bar: OHLCV) -> NDArray[np.float64]:
        """Feed the next closed bar; return its feature vector (a fresh float64 array)."""
        self._saved = None  # the committed state moves on: record it again at next preview
        return self._advance(bar)

    def _advance(self, bar: OHLCV) -> NDArray[np.float64]:
        if self._last_ts is not None and not bar.ts > self._last_ts:
            raise InvalidFeatureInputError(f"expected ts after {self._last_ts}; received {bar.ts}")
        if not (0.0 < bar.low <= bar.high < math.inf and bar.low <= bar.close <= bar.high):
            raise InvalidFeatureInputError(
                "expected finite prices with 0 < low <= close <= high; received "
                f"high={bar.high}, low={bar.low}, close={bar.close} at ts={bar.ts}"
            )
        for update in self._updaters:
            update(bar)
        vector = np.array([output(bar) for output in self._outputs], dtype=np.float64)
        self._count += 1
        self._last_ts = bar.ts
        return vector

    def preview(self, bar: OHLCV) -> NDArray[np.float64]:
        """Return the vector ``update(bar)`` would return, leaving the engine unchanged.

        How the live hot path scores the forming bar on every tick: the components' state
        is recorded (``StatePlan``, walked once; recorded once per committed state, until
        the next ``update`` or ``restore``), the bar is fed and the state is put back in
        place. The rolling scalers (the large windows) are frozen instead: their output
        for a value never depends on it, so they answer without storing it.
        """
        plan, saved = self._plan, self._saved
        if plan is not None and saved is None:
            saved = plan.record()
        if plan is None or saved is None:  # first preview, or a restore() replaced state
            plan = self._plan = StatePlan(self._components.values(), skip=SCALER_TYPES)
            self._scalers = scalers_in(self._components.values())
            saved = plan.record()
            assert saved is not None
        self._saved = saved  # put back after every preview until the next update()
        count, last_ts = self._count, self._last_ts
        for scaler in self._scalers:  # scalers answer without adding the value: no copy
            scaler.frozen = True
        try:
            return self._advance(bar)
        finally:
            for scaler in self._scalers:
                scaler.frozen = False
            plan.restore(saved)
            self._count, self._last_ts = count, last_ts

    def components(self) -> list[Stateful]:
        """The stateful components (what ``SymbolPipeline.checkpoint`` records)."""
        return list(self._components.values())

    def rewound(self, count: int, last_ts: int | None) -> None:
        """The components were put back in place to the state after ``count`` bars (the
        last at ``last_ts``): take the counters back too and record afresh at next preview."""
        self._count, self._last_ts = count, last_ts
        self._saved = None

    def snapshot(self) -> dict[str, Any]:
        """The whole state as strict JSON, tagged with the feature set key and fingerprint."""
        return {
            "feature_set": self._feature_set.key,
            "fingerprint": self._feature_set.fingerprint,
            "count": self._count,
            "last_ts": self._last_ts,
            "components": {k: encode_floats(c.snapshot()) for k, c in self._components.items()},
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Continue from a ``snapshot()`` of an engine of the same feature set."""
        fs = self._feature_set
        if snapshot.get("feature_set") != fs.key or snapshot.get("fingerprint") != fs.fingerprint:
            raise FeatureSetMismatch(
                f"expected a snapshot of {fs.key} (fingerprint {fs.fingerprint}); received "
                f"{snapshot.get('feature_set')} (fingerprint {snapshot.get('fingerprint')})"
            )
        components = snapshot["components"]
        if set(components) != set(self._components):
            raise FeatureStateMismatchError(
                f"expected components {sorted(self._components)}; received {sorted(components)}"
            )
        for key, component in self._components.items():
            component.restore(decode_floats(components[key]))
        self._plan = None  # restores may replace nested state objects: walk again
        self._saved = None
        self._count = int(snapshot["count"])
        last_ts = snapshot["last_ts"]
        self._last_ts = None if last_ts is None else int(last_ts)

    def _shared(self, key: str, factory: Callable[[], Any], update: Callable[[Any], Any]) -> Any:
        """The component ``key``, made and registered (with its per-bar update) once."""
        found = self._components.get(key)
        if found is None:
            found = factory()
            self._components[key] = found
            self._updaters.append(update(found))
        return found

    def _compile(self, spec: FeatureSpec) -> Reader:
        if spec.kind == "log_return":
            return self._lagged_return(spec)
        read = self._raw_reader(spec)
        scaler = make_scaler(spec.scaling)
        if scaler is None:
            return read
        self._components[f"scaler:{spec.name}"] = scaler
        scale = scaler.update
        return lambda bar: scale(read(bar))

    def _lagged_return(self, spec: FeatureSpec) -> Reader:
        n, lag = int(spec.param_map["n"]), int(spec.param_map["lag"])
        max_lag = max(
            int(f.param_map["lag"])
            for f in self._feature_set.features
            if f.kind == "log_return" and f.param_map["n"] == n and f.scaling == spec.scaling
        )
        sc = spec.scaling
        key = f"log_return:{n}:{sc.method}:{sc.window}:{sc.clip!r}:{sc.min_periods}"
        returns = self._shared(
            key, lambda: ScaledReturns(n, spec.scaling, max_lag), lambda r: r.update
        )
        outputs = returns.outputs
        index = -1 - lag
        return lambda bar: outputs[index]

    def _raw_reader(self, spec: FeatureSpec) -> Reader:
        kind, p = spec.kind, spec.param_map
        hlc, on_close = on_high_low_close, on_close_only
        n = int(p.get("n", 0))
        if kind == "rsi":
            rsi = self._shared(f"rsi:{n}", lambda: RSI(n), on_close)
            return lambda bar: rsi.value / 100.0
        if kind.startswith("macd_"):
            args = (int(p["fast"]), int(p["slow"]), int(p["signal"]))
            macd = self._shared(f"macd:{args}", lambda: MACD(*args), on_close)
            attr = kind.removeprefix("macd_")
            return lambda bar: getattr(macd, attr) / bar.close
        if kind.startswith("bb_"):
            k = float(p["k"])
            bands = self._shared(f"bbands:{n}:{k!r}", lambda: BBANDS(n, k), on_close)
            if kind == "bb_percent_b":
                return _percent_b(bands)
            return lambda bar: bands.bandwidth
        if kind == "atr_rel":
            atr = self._shared(f"atr:{n}", lambda: ATR(n), hlc)
            return lambda bar: atr.value / bar.close
        if kind in ("adx", "di_diff"):
            adx = self._shared(f"adx:{n}", lambda: ADX(n), hlc)
            if kind == "adx":
                return lambda bar: adx.adx / 100.0
            return lambda bar: (adx.plus_di - adx.minus_di) / 100.0
        if kind.startswith("stoch_"):
            args = (int(p["fastk"]), int(p["slowk"]), int(p["slowd"]))
            stoch = self._shared(f"stoch:{args}", lambda: STOCH(*args), hlc)
            if kind == "stoch_k":
                return lambda bar: stoch.slowk / 100.0
            return lambda bar: stoch.slowd / 100.0
        if kind == "cci":
            cci = self._shared(f"cci:{n}", lambda: CCI(n), hlc)
            return lambda bar: cci.value / 100.0
        if kind == "willr":
            willr = self._shared(f"willr:{n}", lambda: WILLR(n), hlc)
            return lambda bar: willr.value / 100.0
        if kind == "roc":
            roc = self._shared(f"roc:{n}", lambda: ROC(n), on_close)
            return lambda bar: roc.value
        if kind == "rv_close_to_close":
            rv = self._shared(f"rv_cc:{n}", lambda: RV_CLOSE_TO_CLOSE(n), on_close)
            return lambda bar: rv.value
        if kind == "rv_parkinson":
            park = self._shared(
                f"rv_parkinson:{n}",
                lambda: RV_PARKINSON(n),
                lambda ind: lambda bar: ind.update_bar(bar.high, bar.low),
            )
            return lambda bar: park.value
        if kind == "close_zscore":
            z_close = self._shared(f"close_zscore:{n}", lambda: ZSCORE(n), on_close)
            return lambda bar: z_close.value
        if kind == "volume_zscore":
            z_volume = self._shared(
                f"volume_zscore:{n}",
                lambda: ZSCORE(n),
                lambda ind: lambda bar: ind.update(bar.volume),
            )
            return lambda bar: z_volume.value
        if kind == "rel_spread_bps":
            carry = self._shared("spread", SpreadCarry, lambda c: c.update)
            return lambda bar: carry.value / bar.close * 1e4
        if kind == "session_flag":
            return _session(int(p["open_hour"]), int(p["close_hour"]))
        return _calendar_reader(kind)
