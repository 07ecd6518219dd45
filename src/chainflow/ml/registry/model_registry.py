"""The model registry: versions of trained models, their stage and their artifact.

A model is a name owned by the platform (``owner=None``, usable by every tenant) or by one
tenant (a custom model, if the tier allows). Each registration adds the next version as a
``candidate``; ``promote`` makes one version ``production`` and archives the one before,
if the promotion gate lets it (``chainflow.ml.registry.promotion_gate``: its verdict beats its
baselines, or it is forced with a reason, which is stored with the version);
``rollback`` brings back the version that was production before the current one.

Every call takes the caller's unit of work and never commits (the edge owns the
transaction). Changes of platform models need a ``system=True`` unit of work. Changes of
one name are serialised inside the transaction (``lock_for_changes``), and a partial
unique index keeps at most one production version per name even so.

How a tenant's names resolve: a name the tenant has registered itself means its own
model; any other name means the platform's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chainflow.core.auth import Feature, TierLimits
from chainflow.core.clock import Clock
from chainflow.core.errors import InvalidInput
from chainflow.core.settings import Settings
from chainflow.core.tenancy import TenantContext
from chainflow.ml.errors import (
    CustomModelLimitError,
    CustomModelsNotInTierError,
    ModelNotFoundError,
    ModelStageConflictError,
)
from chainflow.ml.models import MlModel
from chainflow.ml.registry.artifacts import ArtifactStore, DatabaseArtifactStore, LocalArtifactStore
from chainflow.ml.registry.promotion_gate import check_promotion, verdict_of
from chainflow.ml.registry.types import (
    DEEP_FAMILIES,
    MODEL_NAME_PATTERN,
    ModelFamily,
    ModelRegistration,
    ModelStage,
    ModelSummary,
    ModelVersion,
)
from chainflow.ml.repository import ModelVersionRepository
from chainflow.storage.relational import Database, UnitOfWork

ARTIFACTS_DIRECTORY = "models"


def _version_of(row: MlModel) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        version=row.version,
        family=row.family,
        feature_set=row.feature_set,
        feature_set_fingerprint=row.feature_set_fingerprint,
        label=dict(row.label),
        symbols=tuple(row.symbols),
        timeframe=row.timeframe,
        train_from_ts=row.train_from_ts,
        train_to_ts=row.train_to_ts,
        metrics=dict(row.metrics),
        artifact_path=row.artifact_path,
        artifact_sha256=row.artifact_sha256,
        artifact_bytes=row.artifact_bytes,
        stage=ModelStage(row.stage),
        created_at=row.created_at,
        promoted_at=row.promoted_at,
        archived_at=row.archived_at,
        created_by=row.created_by,
        promotion_override=None if row.promotion_override is None else dict(row.promotion_override),
    )


def _summaries(rows: Sequence[MlModel]) -> list[ModelSummary]:
    grouped: dict[tuple[str | None, str], list[MlModel]] = {}
    for row in rows:
        grouped.setdefault((row.tenant_id, row.name), []).append(row)
    summaries = []
    for (tenant_id, name), versions in grouped.items():
        latest = max(versions, key=lambda r: r.version)
        production = [r for r in versions if r.stage == ModelStage.PRODUCTION]
        summaries.append(
            ModelSummary(
                name=name,
                tenant_id=tenant_id,
                family=latest.family,
                latest_version=latest.version,
                production_version=production[0].version if production else None,
                version_count=len(versions),
                production_verdict=verdict_of(production[0].metrics) if production else None,
                production_override=production[0].promotion_override if production else None,
            )
        )
    return sorted(summaries, key=lambda s: (s.name, s.tenant_id is None))


def _owner_text(owner: TenantContext | None) -> str:
    return "the platform" if owner is None else f"tenant {owner.tenant_id}"


class ModelRegistry:
    """Register, promote, roll back, archive and look up model versions. Never commits."""

    def __init__(self, *, artifacts: ArtifactStore, clock: Clock) -> None:
        self.artifacts = artifacts
        self._clock = clock

    # --- changes -----------------------------------------------------------------------

    async def register(
        self,
        uow: UnitOfWork,
        registration: ModelRegistration,
        artifact: bytes,
        *,
        owner: TenantContext | None = None,
        limits: TierLimits | None = None,
    ) -> ModelVersion:
        """Store ``artifact`` and add it as the next ``candidate`` version of its name.

        ``owner=None`` registers a platform model (in a ``system=True`` unit of work). A
        tenant's custom model needs the tenant's ``limits``: its tier must include
        ``custom_models`` (and ``deep_models`` for LSTM, CNN and ensembles), and a new name
        must fit in ``limits.custom_models``. The artifact is written before the row; if
        the transaction then rolls back, the file stays until the next registration of
        that version replaces it (version numbers are taken under the name's lock).
        """
        family = _validate(registration, artifact)
        repository = ModelVersionRepository(uow.session, owner)
        await repository.lock_for_changes(registration.name)
        if owner is not None:
            await self._check_tier(repository, registration.name, family, limits)
        version = await repository.latest_version(registration.name) + 1
        stored = await self.artifacts.write(
            None if owner is None else owner.tenant_id,
            registration.name,
            version,
            artifact,
            uow=uow,
        )
        row = await repository.add_version(
            MlModel(
                name=registration.name,
                version=version,
                family=family.value,
                feature_set=registration.feature_set,
                feature_set_fingerprint=registration.feature_set_fingerprint,
                label=dict(registration.label),
                symbols=list(registration.symbols),
                timeframe=registration.timeframe,
                train_from_ts=registration.train_from_ts,
                train_to_ts=registration.train_to_ts,
                metrics=dict(registration.metrics),
                artifact_path=stored.path,
                artifact_sha256=stored.sha256,
                artifact_bytes=stored.size,
                stage=ModelStage.CANDIDATE.value,
                created_by=registration.created_by,
            )
        )
        return _version_of(row)

    async def promote(
        self,
        uow: UnitOfWork,
        name: str,
        version: int,
        *,
        owner: TenantContext | None = None,
        force: bool = False,
        reason: str | None = None,
        by: str | None = None,
    ) -> ModelVersion:
        """Make ``version`` the production version of ``name``; archive the one before.

        Raise ``ModelPromotionRefusedError`` when its verdict does not say it beats its
        baselines, unless ``force`` with a ``reason`` (stored with ``by``; see
        ``chainflow.ml.registry.promotion_gate``).
        """
        repository = ModelVersionRepository(uow.session, owner)
        await repository.lock_for_changes(name)
        row = await self._row(repository, name, version)
        if row.stage == ModelStage.PRODUCTION:
            raise ModelStageConflictError(
                f"model {name}@{version} of {_owner_text(owner)} is already in production; "
                "expected a candidate or archived version"
            )
        now = self._clock.now()
        override = check_promotion(
            f"{name}@{version}", row.metrics, force=force, reason=reason, by=by, at=now
        )
        current = await repository.production(name)
        if current is not None:
            await self._archive_row(repository, current)
        row.stage = ModelStage.PRODUCTION.value
        row.promotion_override = override
        row.promoted_at = now
        row.archived_at = None
        await repository.flush_changes()
        return _version_of(row)

    async def rollback(
        self, uow: UnitOfWork, name: str, *, owner: TenantContext | None = None
    ) -> ModelVersion:
        """Bring back the version that was production before the current one.

        The current production version, if any, is archived. Raise
        ``ModelStageConflictError`` when no earlier version was ever in production.
        """
        repository = ModelVersionRepository(uow.session, owner)
        await repository.lock_for_changes(name)
        if not await repository.has_name(name):
            raise self._not_found(name, owner)
        previous = await repository.previous_production(name)
        if previous is None:
            raise ModelStageConflictError(
                f"model {name} of {_owner_text(owner)} has no earlier production version to "
                "roll back to; expected an archived version that was once promoted"
            )
        current = await repository.production(name)
        if current is not None:
            await self._archive_row(repository, current)
        previous.stage = ModelStage.PRODUCTION.value
        previous.promoted_at = self._clock.now()
        previous.archived_at = None
        await repository.flush_changes()
        return _version_of(previous)

    async def archive(
        self, uow: UnitOfWork, name: str, version: int, *, owner: TenantContext | None = None
    ) -> ModelVersion:
        """Archive ``version`` (a candidate, or the production version: none is left then)."""
        repository = ModelVersionRepository(uow.session, owner)
        await repository.lock_for_changes(name)
        row = await self._row(repository, name, version)
        if row.stage == ModelStage.ARCHIVED:
            raise ModelStageConflictError(
                f"model {name}@{version} of {_owner_text(owner)} is already archived; "
                "expected a candidate or production version"
            )
        await self._archive_row(repository, row)
        return _version_of(row)

    # --- reads -------------------------------------------------------------------------

    async def owner_of(
        self, uow: UnitOfWork, name: str, viewer: TenantContext | None
    ) -> TenantContext | None:
        """Return whose model ``name`` means to ``viewer``: its own, else the platform's.

        Raise ``ModelNotFoundError`` when neither has a model of that name.
        """
        own, platform = await ModelVersionRepository(uow.session, viewer).names_seen(name)
        if own:
            return viewer
        if platform:
            return None
        raise self._not_found(name, viewer, visible=True)

    async def get(
        self, uow: UnitOfWork, name: str, version: int, *, owner: TenantContext | None = None
    ) -> ModelVersion:
        """Return ``owner``'s version ``version`` of ``name``; raise ``ModelNotFoundError``."""
        return _version_of(
            await self._row(ModelVersionRepository(uow.session, owner), name, version)
        )

    async def versions(
        self, uow: UnitOfWork, name: str, *, owner: TenantContext | None = None
    ) -> list[ModelVersion]:
        """Return every version of ``owner``'s model ``name``, oldest first."""
        rows = await ModelVersionRepository(uow.session, owner).versions(name)
        if not rows:
            raise self._not_found(name, owner)
        return [_version_of(row) for row in rows]

    async def list(
        self, uow: UnitOfWork, *, viewer: TenantContext | None = None
    ) -> list[ModelSummary]:
        """Return the models ``viewer`` may use: the platform's and its own (None: platform)."""
        rows = list(await ModelVersionRepository(uow.session, None).all_versions())
        if viewer is not None:
            rows += await ModelVersionRepository(uow.session, viewer).all_versions()
        return _summaries(rows)

    async def production(
        self, uow: UnitOfWork, name: str, *, viewer: TenantContext | None = None
    ) -> ModelVersion | None:
        """Return the production version ``name`` means to ``viewer``, or None if it has none."""
        owner = await self.owner_of(uow, name, viewer)
        row = await ModelVersionRepository(uow.session, owner).production(name)
        return None if row is None else _version_of(row)

    async def read_artifact(self, model: ModelVersion) -> bytes:
        """Return the artifact of ``model``, verified against its registered SHA-256."""
        return await self.artifacts.read(model.artifact_path, model.artifact_sha256)

    # --- helpers -----------------------------------------------------------------------

    async def _check_tier(
        self,
        repository: ModelVersionRepository,
        name: str,
        family: ModelFamily,
        limits: TierLimits | None,
    ) -> None:
        if limits is None:
            raise ValueError("registering a tenant's custom model needs the tenant's TierLimits")
        for needed in (Feature.CUSTOM_MODELS, Feature.DEEP_MODELS):
            if needed == Feature.DEEP_MODELS and family not in DEEP_FAMILIES:
                continue
            if needed not in limits.features:
                raise CustomModelsNotInTierError(
                    f"a custom {family.value} model needs the feature {needed.value!r}, which "
                    "the tenant's tier does not include; upgrade to register one",
                    details={"required_feature": needed.value},
                )
        live = await repository.live_names()
        if name not in live and len(live) >= limits.custom_models:
            raise CustomModelLimitError(
                f"the tenant's tier allows {limits.custom_models} custom models and "
                f"{len(live)} are in use; archive one or upgrade to register {name!r}",
                details={"limit": limits.custom_models, "used": len(live)},
            )

    async def _row(self, repository: ModelVersionRepository, name: str, version: int) -> MlModel:
        row = await repository.get_version(name, version)
        if row is None:
            raise ModelNotFoundError(
                f"model {name}@{version} of {_owner_text(repository.owner)} was not found",
                details={"name": name, "version": version},
            )
        return row

    async def _archive_row(self, repository: ModelVersionRepository, row: MlModel) -> None:
        row.stage = ModelStage.ARCHIVED.value
        row.archived_at = self._clock.now()
        await repository.flush_changes()

    def _not_found(
        self, name: str, owner: TenantContext | None, *, visible: bool = False
    ) -> ModelNotFoundError:
        where = "visible to" if visible else "of"
        return ModelNotFoundError(
            f"model {name!r} {where} {_owner_text(owner)} was not found", details={"name": name}
        )


def model_registry(settings: Settings, database: Database, clock: Clock) -> ModelRegistry:
    """Return the registry ``settings`` ask for: artifacts as files under
    ``CHAINFLOW_HOME/models`` (one process, or a shared volume), or in the relational
    database (``CHAINFLOW_ML_ARTIFACTS_URL=database``: every process reads the same bytes)."""
    if settings.ml.artifacts_url == "database":
        return ModelRegistry(artifacts=DatabaseArtifactStore(database), clock=clock)
    return local_model_registry(settings.home, clock)


def local_model_registry(home: Path, clock: Clock) -> ModelRegistry:
    """Return a registry keeping artifacts under ``<home>/models`` (``CHAINFLOW_HOME``)."""
    return ModelRegistry(
        artifacts=LocalArtifactStore(Path(home).resolve() / ARTIFACTS_DIRECTORY), clock=clock
    )


def _validate(registration: ModelRegistration, artifact: bytes) -> ModelFamily:
    if not MODEL_NAME_PATTERN.fullmatch(registration.name):
        raise InvalidInput(
            "expected a model name of 1-64 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit; received {registration.name!r}"
        )
    try:
        family = ModelFamily(registration.family)
    except ValueError:
        known = ", ".join(f.value for f in ModelFamily)
        raise InvalidInput(
            f"expected a model family of {known}; received {registration.family!r}"
        ) from None
    if registration.train_from_ts >= registration.train_to_ts:
        raise InvalidInput(
            "expected train_from_ts before train_to_ts; received "
            f"{registration.train_from_ts} and {registration.train_to_ts}"
        )
    if not artifact:
        raise InvalidInput("expected a model artifact; received an empty one")
    return family
