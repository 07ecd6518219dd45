"""Public interface of the ml service: what other services and the runtime may import.

``ServedModelSource`` is what the trading engine and the notification hub use of the models
this process serves (in one process the runtime hands them ml's ``ServedModels``), and
``ModelCatalog`` what a backtest reads of the registry. The ml service, its routers and its
concrete parts (the registry, the served-model cache, the fallback log, the artifact
stores) are the runtime's to build (``ml.live``, ``ml.registry``, ``ml.routes``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from chainflow.ml.errors import (
    ArtifactIntegrityError,
    ArtifactMissingError,
    CustomModelLimitError,
    CustomModelsNotInTierError,
    ModelNotFoundError,
    ModelPromotionRefusedError,
    ModelStageConflictError,
    PlatformModelChangeDeniedError,
)
from chainflow.ml.events import (
    PredictionMade,
    all_predictions,
    predictions_of_partition,
    predictions_topic,
)
from chainflow.ml.live.model_cache import ServedModel
from chainflow.ml.live.model_hint import no_model_reason, train_model_command
from chainflow.ml.registry.artifacts import ArtifactStore, StoredArtifact
from chainflow.ml.registry.fallback_log import Fallback
from chainflow.ml.registry.model_registry import model_registry
from chainflow.ml.registry.promotion_gate import verdict_of
from chainflow.ml.registry.types import (
    ModelFamily,
    ModelRegistration,
    ModelStage,
    ModelSummary,
    ModelVerdict,
    ModelVersion,
    VerdictStatus,
)
from chainflow.ml.training.oos_backtest import SignalBacktester, SignalWindow, WindowOutcome
from chainflow.ml.training.serving import BundleOutput, ModelBundle

if TYPE_CHECKING:
    from chainflow.bridge.api import AggregatedBar
    from chainflow.core.tenancy import TenantContext
    from chainflow.ml.registry.model_registry import ModelRegistry
    from chainflow.ml.training.default_model import DefaultModelRecipe
    from chainflow.ml.training.run import Progress
    from chainflow.ml.training.window_model import WindowModel
    from chainflow.storage.relational import Database, UnitOfWork

__all__ = [
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "ArtifactStore",
    "BundleOutput",
    "CustomModelLimitError",
    "CustomModelsNotInTierError",
    "DefaultModelRecipe",
    "Fallback",
    "ModelBundle",
    "ModelCatalog",
    "ModelFamily",
    "ModelNotFoundError",
    "ModelPromotionRefusedError",
    "ModelRegistration",
    "ModelStage",
    "ModelStageConflictError",
    "ModelSummary",
    "ModelVerdict",
    "ModelVersion",
    "PlatformModelChangeDeniedError",
    "PredictionMade",
    "SampleBars",
    "SampleMarket",
    "ServedModel",
    "ServedModelSource",
    "SignalBacktester",
    "SignalWindow",
    "StoredArtifact",
    "VerdictStatus",
    "WindowOutcome",
    "all_predictions",
    "predictions_of_partition",
    "ensure_default_model",
    "train_default_model",
    "model_registry",
    "no_model_reason",
    "predictions_topic",
    "train_model_command",
    "train_window_model",
    "verdict_of",
]


class ServedModelSource(Protocol):
    """The production model this process serves each tenant (``ServedModels`` here)."""

    @property
    def model_name(self) -> str:
        """The registry name served (``CHAINFLOW_ML_MODEL``)."""
        ...

    @property
    def anomaly_z(self) -> float:
        """The robust z beyond which a feature vector is flagged anomalous."""
        ...

    async def resolve(self, tenant_id: str) -> ServedModel | None:
        """Return the tenant's production model; None when it has none (or a fallback holds)."""
        ...

    def resolved(self, tenant_id: str) -> bool:
        """Whether ``resolve`` answers the tenant without reading the registry."""
        ...

    def unavailable_reason(self, tenant_id: str) -> str:
        """Return why ``resolve`` answers None for the tenant (the reason of its ``hold``)."""
        ...


class ModelCatalog(Protocol):
    """What a backtest reads of the model registry: a version of a name and its bundle."""

    async def production(
        self, uow: UnitOfWork, name: str, *, viewer: TenantContext | None = None
    ) -> ModelVersion | None:
        """Return the production version ``name`` means to ``viewer`` (None: it has none)."""
        ...

    async def owner_of(
        self, uow: UnitOfWork, name: str, viewer: TenantContext | None
    ) -> TenantContext | None:
        """Return whose model ``name`` means to ``viewer``: its own, else the platform's."""
        ...

    async def get(
        self, uow: UnitOfWork, name: str, version: int, *, owner: TenantContext | None = None
    ) -> ModelVersion:
        """Return ``owner``'s version ``version`` of ``name``."""
        ...

    async def read_artifact(self, model: ModelVersion) -> bytes:
        """Return the artifact (ONNX bundle bytes) of ``model``, verified."""
        ...


def train_window_model(**bars_and_settings: Any) -> WindowModel:
    """Fit a light XGBoost bundle on one window of bars (walk-forward retraining); see
    ``chainflow.ml.training.window_model``. Imported on call: it loads XGBoost and ONNX."""
    from chainflow.ml.training.window_model import train_window_model as train

    return train(**bars_and_settings)


@dataclass(frozen=True, slots=True)
class SampleBars:
    """The bars ``fx-default`` trains on and the first UTC day of the market they come from."""

    bars: Sequence[AggregatedBar]
    start: date


SampleMarket: TypeAlias = "Callable[[DefaultModelRecipe], SampleBars]"
"""Makes a default-model recipe's bars (its symbol, timeframe, days, seed); called to train."""


def __getattr__(name: str) -> Any:
    """``DefaultModelRecipe`` on first use (PEP 562): its module loads the training stack
    (LightGBM, ONNX), which a process that never trains should not import."""
    if name == "DefaultModelRecipe":
        from chainflow.ml.training.default_model import DefaultModelRecipe

        return DefaultModelRecipe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def train_default_model(
    sample_market: SampleMarket,
    *,
    recipe: DefaultModelRecipe | None = None,
    progress: Progress | None = None,
) -> tuple[ModelRegistration, bytes]:
    """Train ``fx-default`` on ``sample_market``'s bars without registering it: its
    registration and ONNX bytes. Imported on call: training loads LightGBM and ONNX."""
    from chainflow.ml.training.default_model import DefaultModelRecipe
    from chainflow.ml.training.default_model import train_default_model as train

    chosen = recipe if recipe is not None else DefaultModelRecipe()
    return train(chosen, sample_market, progress)


async def ensure_default_model(
    database: Database,
    registry: ModelRegistry,
    sample_market: SampleMarket,
    *,
    recipe: DefaultModelRecipe | None = None,
    progress: Progress | None = None,
) -> ModelVersion:
    """Return the production ``fx-default``, trained on ``sample_market``'s bars if missing;
    see ``chainflow.ml.training.default_model``. Imported on call: training loads LightGBM
    and ONNX."""
    from chainflow.ml.training.default_model import DefaultModelRecipe
    from chainflow.ml.training.default_model import ensure_default_model as ensure

    chosen = recipe if recipe is not None else DefaultModelRecipe()
    return await ensure(database, registry, sample_market, recipe=chosen, progress=progress)
