"""Named, versioned feature sets: what a model was trained on, fixed down to every parameter.

A ``FeatureSet`` is data: a name, a version and an ordered tuple of ``FeatureSpec`` (output
name, ``kind``, parameters, ``Scaling``). ``chainflow.features.engine.FeatureEngine``
computes it bar by bar and ``chainflow.features.matrix.feature_matrix`` computes it over
arrays; both give the same numbers. The ``fingerprint`` (SHA-256 of the canonical JSON of
the whole definition) is stored with a model; ``ensure_compatible`` makes a model refuse
features computed by another definition.

Kinds (``value`` at bar ``t`` uses bars ``0..t`` only; ``first`` is the first index with a
value on gap-free input):

- ``log_return`` ``{n, lag}``: ``ln(close[t-lag] / close[t-lag-n])``; first ``n + lag``.
- ``rsi`` ``{n}``: RSI / 100; first ``n``. ``adx`` ``{n}``: ADX / 100; first ``2n - 1``.
  ``di_diff`` ``{n}``: (+DI - -DI) / 100; first ``n``.
- ``macd_line`` / ``macd_signal`` / ``macd_hist`` ``{fast, slow, signal}``: divided by the
  close; first ``slow + signal - 2``.
- ``bb_percent_b`` ``{n, k}``: Bollinger %B; 0.5 (the close is the middle) where the bands
  collapse to zero width; first ``n - 1``. ``bb_bandwidth`` ``{n, k}``: first ``n - 1``.
- ``atr_rel`` ``{n}``: ATR / close; first ``n``. ``roc`` ``{n}``: ROC in percent; first ``n``.
- ``stoch_k`` / ``stoch_d`` ``{fastk, slowk, slowd}``: slow %K / %D over 100; first
  ``fastk + slowk + slowd - 3``. ``cci`` ``{n}``: CCI / 100; ``willr`` ``{n}``: %R / 100;
  first ``n - 1``.
- ``rv_close_to_close`` ``{n}`` (first ``n``), ``rv_parkinson`` ``{n}`` (first ``n - 1``):
  per-bar realized volatility. ``close_zscore`` / ``volume_zscore`` ``{n}``: rolling
  z-score (current bar included, bounded by ``sqrt(n - 1)``); first ``n - 1``.
- ``rel_spread_bps`` ``{}``: bar mean spread / close * 1e4. A bar whose spread is unknown
  (NaN) carries the last known spread forward; before any known spread the value is NaN
  (so ``warmup_bars`` assumes the first bar's spread is known). Never a made-up 0.
- ``time_of_day_sin`` / ``time_of_day_cos``: angle ``2 pi (UTC minute of day) / 1440`` of
  the bar open time; ``day_of_week_sin`` / ``day_of_week_cos``: ``2 pi weekday / 7``
  (Monday 0); ``session_flag`` ``{open_hour, close_hour}``: 1.0 when the UTC hour of the
  bar open is in ``[open_hour, close_hour)`` (wrapping midnight if ``open > close``).

Scaling (``chainflow.features.normalize``): ``none``, or past-only ``zscore`` / ``robust``
over the previous ``window`` finite values, NaN until ``min_periods`` of them, clipped to
``±clip``. A lagged ``log_return`` scaled over its own past equals the unlagged scaled
return ``lag`` bars earlier; the engine and the matrix use that identity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

from chainflow.core.errors import InvalidInput, NotFound
from chainflow.features.errors import InvalidFeatureInputError

__all__ = [
    "FEATURE_SETS",
    "FX_CORE_V1",
    "FeatureSet",
    "FeatureSetMismatch",
    "FeatureSpec",
    "Scaling",
    "feature",
    "get_feature_set",
]

ScalingMethod = Literal["none", "zscore", "robust"]
ParamValue = int | float

# kind -> parameter names it takes
KIND_PARAMS: dict[str, tuple[str, ...]] = {
    "log_return": ("n", "lag"),
    "rsi": ("n",),
    "macd_line": ("fast", "slow", "signal"),
    "macd_signal": ("fast", "slow", "signal"),
    "macd_hist": ("fast", "slow", "signal"),
    "bb_percent_b": ("n", "k"),
    "bb_bandwidth": ("n", "k"),
    "atr_rel": ("n",),
    "adx": ("n",),
    "di_diff": ("n",),
    "stoch_k": ("fastk", "slowk", "slowd"),
    "stoch_d": ("fastk", "slowk", "slowd"),
    "cci": ("n",),
    "willr": ("n",),
    "roc": ("n",),
    "rv_close_to_close": ("n",),
    "rv_parkinson": ("n",),
    "close_zscore": ("n",),
    "volume_zscore": ("n",),
    "rel_spread_bps": (),
    "time_of_day_sin": (),
    "time_of_day_cos": (),
    "day_of_week_sin": (),
    "day_of_week_cos": (),
    "session_flag": ("open_hour", "close_hour"),
}


def first_index(kind: str, params: Mapping[str, Any]) -> int:
    """Return the index of the first finite raw value of ``kind`` on gap-free input."""
    p = params
    if kind == "log_return":
        return int(p["n"] + p["lag"])
    if kind in ("rsi", "atr_rel", "roc", "rv_close_to_close", "di_diff"):
        return int(p["n"])
    if kind == "adx":
        return int(2 * p["n"] - 1)
    if kind.startswith("macd_"):
        return int(max(p["fast"], p["slow"]) + p["signal"] - 2)
    if kind.startswith("stoch_"):
        return int(p["fastk"] + p["slowk"] + p["slowd"] - 3)
    if kind in ("bb_percent_b", "bb_bandwidth", "cci", "willr", "rv_parkinson"):
        return int(p["n"] - 1)
    if kind in ("close_zscore", "volume_zscore"):
        return int(p["n"] - 1)
    return 0


class FeatureSetMismatch(InvalidInput):
    """A model (or a snapshot) was made with another feature set than the one offered."""

    code = "feature_set_mismatch"


@dataclass(frozen=True, slots=True)
class Scaling:
    """How a raw feature is scaled: ``none`` or a past-only rolling ``zscore``/``robust``."""

    method: ScalingMethod = "none"
    window: int = 0
    clip: float = 0.0
    min_periods: int = 0

    def __post_init__(self) -> None:
        if self.method == "none":
            if (self.window, self.clip, self.min_periods) != (0, 0.0, 0):
                raise InvalidFeatureInputError(
                    f"expected no window, clip or min_periods with method 'none'; received {self}"
                )
            return
        if self.method not in ("zscore", "robust"):
            raise InvalidFeatureInputError(
                f"expected method 'none', 'zscore' or 'robust'; received {self.method!r}"
            )
        if not 1 <= self.min_periods <= self.window:
            raise InvalidFeatureInputError(
                f"expected 1 <= min_periods <= window; received {self.min_periods}, {self.window}"
            )
        if not self.clip > 0.0:
            raise InvalidFeatureInputError(f"expected clip > 0; received {self.clip}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "window": self.window,
            "clip": float(self.clip),
            "min_periods": self.min_periods,
        }


NO_SCALING = Scaling()


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One output column: its ``name``, ``kind``, parameters and scaling."""

    name: str
    kind: str
    params: tuple[tuple[str, ParamValue], ...] = ()
    scaling: Scaling = NO_SCALING

    def __post_init__(self) -> None:
        if self.kind not in KIND_PARAMS:
            raise InvalidFeatureInputError(
                f"expected a kind among {sorted(KIND_PARAMS)}; received {self.kind!r}"
            )
        names = tuple(sorted(k for k, _ in self.params))
        if names != tuple(sorted(KIND_PARAMS[self.kind])):
            raise InvalidFeatureInputError(
                f"expected params {sorted(KIND_PARAMS[self.kind])} for kind {self.kind!r}; "
                f"received {list(names)}"
            )

    @property
    def param_map(self) -> dict[str, ParamValue]:
        return dict(self.params)

    @property
    def first_valid(self) -> int:
        """Index of the first finite output on gap-free input (scaling included)."""
        return first_index(self.kind, self.param_map) + self.scaling.min_periods

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "params": dict(sorted(self.params)),
            "scaling": self.scaling.to_dict(),
        }


def feature(
    name: str, kind: str, scaling: Scaling = NO_SCALING, **params: ParamValue
) -> FeatureSpec:
    """Build a ``FeatureSpec`` with keyword parameters (stored sorted)."""
    return FeatureSpec(name, kind, tuple(sorted(params.items())), scaling)


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned, ordered set of features; compare models by ``fingerprint``."""

    name: str
    version: int
    features: tuple[FeatureSpec, ...] = field(default=())
    description: str = ""

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        if not names or len(set(names)) != len(names):
            raise InvalidFeatureInputError(
                f"expected unique, non-empty feature names; received {names}"
            )

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 hex of the canonical JSON of the definition (not of ``description``)."""
        body = {k: v for k, v in self.to_dict().items() if k not in ("fingerprint", "description")}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    @cached_property
    def warmup_bars(self) -> int:
        """Bars after which every output is finite (on gap-free bars with a known spread)."""
        return max(f.first_valid for f in self.features) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "key": self.key,
            "description": self.description,
            "features": [f.to_dict() for f in self.features],
        }

    def ensure_compatible(
        self, key: str, fingerprint: str, names: Sequence[str] | None = None
    ) -> None:
        """Raise ``FeatureSetMismatch`` unless a model's recorded set is this one."""
        problems = []
        if key != self.key:
            problems.append(f"key {key!r}")
        if fingerprint != self.fingerprint:
            problems.append(f"fingerprint {fingerprint!r}")
        if names is not None and tuple(names) != self.names:
            problems.append(f"names {list(names)}")
        if problems:
            raise FeatureSetMismatch(
                f"expected feature set {self.key} (fingerprint {self.fingerprint}); "
                f"received {', '.join(problems)}",
                details={"expected": {"key": self.key, "fingerprint": self.fingerprint}},
            )


def _zscore(window: int = 500, clip: float = 5.0, min_periods: int = 200) -> Scaling:
    return Scaling("zscore", window, clip, min_periods)


def _robust(window: int = 500, clip: float = 5.0, min_periods: int = 200) -> Scaling:
    return Scaling("robust", window, clip, min_periods)


_MACD = {"fast": 12, "slow": 26, "signal": 9}
_STOCH = {"fastk": 14, "slowk": 3, "slowd": 3}

FX_CORE_V1 = FeatureSet(
    name="fx-core",
    version=1,
    description=(
        "Scale-free features for FX M1..D1 bars: returns, oscillators, volatility, spread, "
        "calendar and sessions; unbounded ones scaled over the previous 500 bars, clip 5."
    ),
    features=(
        feature("ret_1", "log_return", _robust(), n=1, lag=0),
        feature("ret_1_lag1", "log_return", _robust(), n=1, lag=1),
        feature("ret_1_lag2", "log_return", _robust(), n=1, lag=2),
        feature("ret_1_lag3", "log_return", _robust(), n=1, lag=3),
        feature("ret_1_lag5", "log_return", _robust(), n=1, lag=5),
        feature("ret_5", "log_return", _robust(), n=5, lag=0),
        feature("ret_20", "log_return", _robust(), n=20, lag=0),
        feature("rsi_14", "rsi", n=14),
        feature("macd_line_rel", "macd_line", _zscore(), **_MACD),
        feature("macd_signal_rel", "macd_signal", _zscore(), **_MACD),
        feature("macd_hist_rel", "macd_hist", _zscore(), **_MACD),
        feature("bb_percent_b_20", "bb_percent_b", n=20, k=2.0),
        feature("bb_bandwidth_20", "bb_bandwidth", _zscore(), n=20, k=2.0),
        feature("atr_rel_14", "atr_rel", _zscore(), n=14),
        feature("adx_14", "adx", n=14),
        feature("di_diff_14", "di_diff", n=14),
        feature("stoch_k_14", "stoch_k", NO_SCALING, **_STOCH),
        feature("stoch_d_14", "stoch_d", NO_SCALING, **_STOCH),
        feature("cci_20", "cci", n=20),
        feature("willr_14", "willr", n=14),
        feature("roc_10", "roc", _zscore(), n=10),
        feature("rv_cc_20", "rv_close_to_close", _zscore(), n=20),
        feature("rv_parkinson_20", "rv_parkinson", _zscore(), n=20),
        feature("close_zscore_20", "close_zscore", n=20),
        feature("volume_zscore_20", "volume_zscore", n=20),
        feature("rel_spread_bps", "rel_spread_bps", _robust()),
        feature("tod_sin", "time_of_day_sin"),
        feature("tod_cos", "time_of_day_cos"),
        feature("dow_sin", "day_of_week_sin"),
        feature("dow_cos", "day_of_week_cos"),
        feature("session_asia", "session_flag", open_hour=0, close_hour=9),
        feature("session_london", "session_flag", open_hour=7, close_hour=16),
        feature("session_new_york", "session_flag", open_hour=12, close_hour=21),
    ),
)

FEATURE_SETS: Mapping[str, FeatureSet] = MappingProxyType({s.key: s for s in (FX_CORE_V1,)})


def get_feature_set(key: str) -> FeatureSet:
    """Return the registered feature set ``key`` ("name@version"); ``NotFound`` otherwise."""
    found = FEATURE_SETS.get(key)
    if found is None:
        raise NotFound(
            f"expected a feature set among {sorted(FEATURE_SETS)}; received {key!r}",
            details={"known": sorted(FEATURE_SETS)},
        )
    return found
