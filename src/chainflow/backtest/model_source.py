"""The ML strategy of ``chainflow backtest --strategy ml``: a registered model, by name.

``--model NAME`` takes the production version of ``NAME``, ``--model NAME@N`` version
``N``; without ``--model`` the served model (``settings.ml.model``, ``fx-default``). The
bundle is read from the model registry on a tool-mode kernel and traded by ``MlStrategy``
(the live ``ModelStrategy`` on the bundle's predictions). A model trained on bars of the
backtest's own period has seen them: ``training_overlap_note`` says so in the result.

Bars without a spread (an OHLCV CSV) leave the ``fx-core@1`` spread input unknown (NaN),
and a row is scored only when every input is finite. What that means depends on the model:

- trained on bars without a spread, its spread input was dropped (the bundle's metadata
  lists it in ``dropped_features``) and the bundle takes the full vector but ignores that
  column: the strategy scores it on a spread of 0 where a bar's is unknown, which cannot
  move the output and makes the rows finite (as ``walkforward --strategy ml`` does);
- trained on bars with a spread, the model reads it: no bar without one can be scored, and
  any made-up value would be an input it never saw. ``check_bars`` refuses such bars with
  ``InvalidBacktestInputError`` before any scoring, rather than a backtest of 0 trades
  that reads like a model that saw no edge. (Bars with a spread on some bars only are
  scored from the first known spread on: the feature carries it forward.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from chainflow.backtest.errors import InvalidBacktestInputError
from chainflow.backtest.ml_strategy import MlStrategy
from chainflow.core.errors import InvalidInput
from chainflow.core.market import BarSeries
from chainflow.core.tenancy import TenantContext
from chainflow.features.api import get_feature_set
from chainflow.ml.api import ModelBundle, ModelCatalog, ModelNotFoundError, model_registry
from chainflow.storage.relational import Database
from chainflow.trading.api import TradingPreferences

KERNEL_SERVICES = "hub,storage"
SPREAD_FEATURE_KINDS = frozenset({"rel_spread_bps"})
"""Feature kinds computed from the bar spread: ``chainflow.ml``'s ``SPREAD_KINDS``, the
inputs training drops on bars without a spread (a test holds the two equal)."""
IGNORED_SPREAD = 0.0
"""The spread scored where a bar's is unknown, for a model that reads none (any value is
ignored; 0 is what training saw)."""
DROPPED_FEATURES_KEY = "dropped_features"
"""The bundle metadata naming the inputs it takes and ignores (``run_parts.widen_bundle``)."""


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model version loaded for a backtest."""

    ref: str
    feature_set: str
    train_from_ts: int
    train_to_ts: int
    bundle: ModelBundle
    timeframe: str | None = None  # of the bars it was trained on
    dropped_features: tuple[str, ...] = ()  # inputs the bundle takes and ignores

    @property
    def spread_features(self) -> tuple[str, ...]:
        """The model's inputs computed from the bar spread that it reads (not dropped)."""
        return tuple(
            spec.name
            for spec in get_feature_set(self.feature_set).features
            if spec.kind in SPREAD_FEATURE_KINDS and spec.name not in self.dropped_features
        )

    @property
    def unknown_spread(self) -> float | None:
        """The spread scored where a bar's is unknown: ``IGNORED_SPREAD`` when the model
        reads no spread input, else ``None`` (unknown, as live)."""
        return None if self.spread_features else IGNORED_SPREAD

    def check_bars(self, bars: BarSeries) -> None:
        """Raise ``InvalidBacktestInputError`` when no bar of ``bars`` can be scored because
        the model reads the spread and no bar has one."""
        reads = self.spread_features
        if not reads or bars.has_spread:
            return
        raise InvalidBacktestInputError(
            f"expected bars with a spread for model {self.ref}, which reads "
            f"{', '.join(reads)} (it was trained on bars with a spread); received "
            f"{len(bars)} bars without one, on which no bar can be scored. Backtest it on "
            "bars that carry a spread (an MT5 bar export, a file with a Spread column, "
            "bars stored from ticks), or trade a model trained on bars without a spread "
            "(`chainflow train` on such a file without --spread, or `chainflow walkforward "
            "--strategy ml`, which trains per window); the backtest's --spread is the fill "
            "cost, not a model input"
        )

    def strategy(self, preferences: TradingPreferences | None = None) -> MlStrategy:
        """Return a fresh strategy trading this model for ``preferences``."""
        return RegisteredModelStrategy(self, preferences)


class RegisteredModelStrategy(MlStrategy):
    """``MlStrategy`` of a registered model: scores the bars the model's way (an ignored
    spread filled where unknown) and refuses bars it cannot score (``check_bars``)."""

    def __init__(self, model: RegisteredModel, preferences: TradingPreferences | None) -> None:
        super().__init__(
            model.bundle,
            preferences,
            feature_set=model.feature_set,
            model=model.ref,
            unknown_spread=model.unknown_spread,
        )
        self.registered = model

    def prepare(self, bars: BarSeries) -> None:
        """Check ``bars`` against the model, then score it on every row once."""
        self.registered.check_bars(bars)
        super().prepare(bars)


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where an ML backtest job finds its model: the registry and the default name."""

    registry: ModelCatalog
    default: str


def parse_model_ref(ref: str) -> tuple[str, int | None]:
    """Return ``(name, version)`` of ``NAME`` or ``NAME@N``; raise ``InvalidInput``."""
    name, _, version = ref.strip().partition("@")
    if not name or (version and not version.isdigit()):
        raise InvalidInput(f"expected --model NAME or NAME@VERSION; received {ref!r}")
    return name, int(version) if version else None


async def load_registered_model(kernel: Any, ref: str | None) -> RegisteredModel:
    """Read model ``ref`` (default: the served model) from the kernel's registry."""
    registry = model_registry(kernel.settings, kernel.infra.database, kernel.clock)
    return await load_model(registry, kernel.infra.database, ref or kernel.settings.ml.model)


async def load_model(
    registry: ModelCatalog, database: Database, ref: str, *, viewer: TenantContext | None = None
) -> RegisteredModel:
    """Read ``NAME`` (its production version) or ``NAME@N`` as ``viewer`` sees it (a
    tenant's own custom model first, else the platform's)."""
    name, version = parse_model_ref(ref)
    async with database.unit_of_work(system=True, read_only=True) as uow:
        try:
            if version is None:
                found = await registry.production(uow, name, viewer=viewer)
            else:
                owner = await registry.owner_of(uow, name, viewer)
                found = await registry.get(uow, name, version, owner=owner)
        except ModelNotFoundError:
            found = None
    if found is None:
        which = f"{name}@{version}" if version is not None else f"a production version of {name}"
        raise InvalidInput(
            f"expected {which} in the model registry; received none (list them with "
            "`chainflow models list`; `chainflow train` registers one, `chainflow demo` "
            "trains fx-default; `chainflow walkforward --strategy ml` trains per window)"
        )
    bundle = ModelBundle(await registry.read_artifact(found))
    return RegisteredModel(
        ref=found.ref,
        feature_set=found.feature_set,
        train_from_ts=found.train_from_ts,
        train_to_ts=found.train_to_ts,
        bundle=bundle,
        timeframe=found.timeframe,
        dropped_features=dropped_features(bundle),
    )


def dropped_features(bundle: ModelBundle) -> tuple[str, ...]:
    """The inputs ``bundle`` takes and ignores (its metadata's ``dropped_features``)."""
    listed = bundle.metadata.get(DROPPED_FEATURES_KEY, "")
    return tuple(name for name in listed.split(",") if name)


def training_overlap_note(model: RegisteredModel, bars: BarSeries) -> str | None:
    """Return a warning when bars of the backtest lie in the model's training range."""
    seen = (bars.ts >= model.train_from_ts) & (bars.ts <= model.train_to_ts)
    inside = int(np.count_nonzero(seen))
    if not inside:
        return None
    return (
        f"model {model.ref} was trained on bars from {_iso(model.train_from_ts)} to "
        f"{_iso(model.train_to_ts)}: {inside} of the {len(bars)} bars are in-sample for it"
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
