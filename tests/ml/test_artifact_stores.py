"""Both artifact stores keep the bytes, verify the hash and refuse what was not registered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chainflow.core.settings import DatabaseSettings
from chainflow.ml.errors import ArtifactIntegrityError, ArtifactMissingError
from chainflow.ml.registry.artifacts import (
    ArtifactStore,
    DatabaseArtifactStore,
    LocalArtifactStore,
    StoredArtifact,
)
from chainflow.storage.relational import Database, upgrade
from tests.fixtures.database import provision, release

CASES = [("files", "sqlite"), ("database", "sqlite"), ("database", "postgres")]


@pytest.fixture(params=CASES, ids=lambda case: f"{case[0]}-{case[1]}")
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[ArtifactStore, Database]]:
    kind, backend = request.param
    provisioned = await provision(backend, tmp_path)
    await upgrade(provisioned.url)
    database = Database(provisioned.url, DatabaseSettings())
    store: ArtifactStore = (
        LocalArtifactStore(tmp_path / "models")
        if kind == "files"
        else DatabaseArtifactStore(database)
    )
    try:
        yield store, database
    finally:
        await database.dispose()
        await release(provisioned)


async def write(
    stores: tuple[ArtifactStore, Database], owner: str | None, name: str, data: bytes
) -> StoredArtifact:
    store, database = stores
    async with database.unit_of_work(system=True) as uow:
        return await store.write(owner, name, 1, data, uow=uow)


async def test_round_trip_overwrite_missing_and_tampered(
    stores: tuple[ArtifactStore, Database],
) -> None:
    store = stores[0]
    stored = await write(stores, None, "fx-default", b"onnx-bytes-1")
    tenant = await write(stores, "0190a5c0-0000-7000-8000-0000000000aa", "fx-mine", b"mine")

    assert stored.path == "platform/fx-default/1/model.onnx" and stored.size == 12
    assert await store.read(stored.path, stored.sha256) == b"onnx-bytes-1"
    assert await store.read(tenant.path, tenant.sha256) == b"mine"
    again = await write(stores, None, "fx-default", b"onnx-bytes-2")  # newer bytes win
    assert await store.read(again.path, again.sha256) == b"onnx-bytes-2"
    with pytest.raises(ArtifactIntegrityError, match="expected"):
        await store.read(again.path, stored.sha256)
    with pytest.raises(ArtifactMissingError):
        await store.read("platform/nope/1/model.onnx", stored.sha256)


async def test_database_artifact_rolls_back_with_its_registration(tmp_path: Path) -> None:
    provisioned = await provision("sqlite", tmp_path)
    await upgrade(provisioned.url)
    database = Database(provisioned.url, DatabaseSettings())
    store = DatabaseArtifactStore(database)
    try:
        with pytest.raises(RuntimeError):
            async with database.unit_of_work(system=True) as uow:
                stored = await store.write(None, "fx-default", 1, b"bytes", uow=uow)
                raise RuntimeError("registration failed after the artifact was written")
        with pytest.raises(ArtifactMissingError):
            await store.read(stored.path, stored.sha256)
    finally:
        await database.dispose()
