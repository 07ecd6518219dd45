"""The ML strategy of ``chainflow backtest --strategy ml``: a registered model, by name.

``--model NAME`` takes the production version of ``NAME``, ``--model NAME@N`` version
``N``; without ``--model`` the served model (``settings.ml.model``, ``fx-default``). The
bundle is read from the model registry on a tool-mode kernel and traded by ``MlStrategy``
(the live ``ModelStrategy`` on the bundle's predictions). A model trained on bars of the
backtest's own period has seen them: ``training_overlap_note`` says so in the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from chainflow.backtest.ml_strategy import MlStrategy
from chainflow.core.errors import InvalidInput
from chainflow.core.market import BarSeries
from chainflow.core.tenancy import TenantContext
from chainflow.ml.api import ModelBundle, ModelNotFoundError, ModelRegistry, model_registry
from chainflow.storage.relational import Database

KERNEL_SERVICES = "hub,storage"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model version loaded for a backtest."""

    ref: str
    feature_set: str
    train_from_ts: int
    train_to_ts: int
    bundle: ModelBundle
    timeframe: str | None = None  # of the bars it was trained on

    def strategy(self) -> MlStrategy:
        """Return a fresh ``MlStrategy`` trading this model."""
        return MlStrategy.from_bundle(self.bundle, feature_set=self.feature_set, model=self.ref)


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where an ML backtest job finds its model: the registry and the default name."""

    registry: ModelRegistry
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
    registry: ModelRegistry, database: Database, ref: str, *, viewer: TenantContext | None = None
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
    return RegisteredModel(
        ref=found.ref,
        feature_set=found.feature_set,
        train_from_ts=found.train_from_ts,
        train_to_ts=found.train_to_ts,
        bundle=ModelBundle(await registry.read_artifact(found)),
        timeframe=found.timeframe,
    )


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
