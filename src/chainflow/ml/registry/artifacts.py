"""Where model artifacts (ONNX files) live: written once, verified on every read.

``ArtifactStore`` is the interface the registry and inference use; ``LocalArtifactStore``
keeps files under ``<CHAINFLOW_HOME>/models`` as
``<tenant id or 'platform'>/<name>/<version>/model.onnx``. A registry row stores the path
relative to that root (so a moved home keeps working), the SHA-256 and the size.

``DatabaseArtifactStore`` keeps the same paths in the relational database's
``ml_artifacts`` table (``CHAINFLOW_ML_ARTIFACTS_URL=database``), so that every process of a
scaled deployment reads the bytes the training process wrote. An object store (``s3://``)
would be a third implementation of the same interface.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from chainflow.core.errors import InvalidInput
from chainflow.ml.errors import ArtifactIntegrityError, ArtifactMissingError
from chainflow.ml.repository import ArtifactRepository
from chainflow.storage.relational import Database, UnitOfWork

ARTIFACT_FILE_NAME = "model.onnx"
PLATFORM_DIRECTORY = "platform"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """Where an artifact was written and what it is: its path in the store, hash and size."""

    path: str
    sha256: str
    size: int


class ArtifactStore(Protocol):
    """Writes and reads model artifacts by (owner, name, version)."""

    async def write(
        self, owner: str | None, name: str, version: int, data: bytes, *, uow: UnitOfWork
    ) -> StoredArtifact:
        """Store ``data`` as the artifact of ``owner``'s (None: the platform's) model version.

        ``uow`` is the registration's unit of work: a store that keeps artifacts in the
        relational database writes in it, so the artifact commits with the registry row."""
        ...

    async def read(self, path: str, expected_sha256: str) -> bytes:
        """Return the artifact at ``path``; raise ``ArtifactIntegrityError`` if its hash differs."""
        ...


class LocalArtifactStore:
    """Artifacts as files under ``root``, written atomically (temp file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relative_path(self, owner: str | None, name: str, version: int) -> str:
        """Return the store path of an artifact, e.g. ``platform/eurusd-xgb/3/model.onnx``."""
        owner_segment = PLATFORM_DIRECTORY if owner is None else _segment("owner", owner)
        if version < 1:
            raise InvalidInput(f"expected a model version of at least 1; received {version}")
        parts = (owner_segment, _segment("model name", name), str(version), ARTIFACT_FILE_NAME)
        return PurePosixPath(*parts).as_posix()

    def resolve(self, path: str) -> Path:
        """Return the file of store path ``path``; refuse a path that leaves the root."""
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise InvalidInput(
                f"expected an artifact path relative to the store root; received {path!r}"
            )
        return self.root.joinpath(*relative.parts)

    async def write(
        self, owner: str | None, name: str, version: int, data: bytes, *, uow: UnitOfWork
    ) -> StoredArtifact:
        path = self.relative_path(owner, name, version)
        await asyncio.to_thread(_write_atomically, self.resolve(path), data)
        return StoredArtifact(path=path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    async def read(self, path: str, expected_sha256: str) -> bytes:
        target = self.resolve(path)
        try:
            data = await asyncio.to_thread(target.read_bytes)
        except FileNotFoundError as e:
            raise ArtifactMissingError(
                f"model artifact {path!r} is missing from {self.root}; expected the file "
                "written when the model was registered"
            ) from e
        return _verified(path, data, expected_sha256)


def _verified(path: str, data: bytes, expected_sha256: str) -> bytes:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model artifact {path!r} has SHA-256 {actual}; expected {expected_sha256} "
            "as registered. It was changed after registration; re-register the model",
            details={"path": path, "expected_sha256": expected_sha256, "actual": actual},
        )
    return data


def _segment(what: str, value: str) -> str:
    if not _SEGMENT.fullmatch(value):
        raise InvalidInput(
            f"expected the {what} to be 1-64 letters, digits, '.', '_' or '-' (not starting "
            f"with a symbol); received {value!r}"
        )
    return value


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".model-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class DatabaseArtifactStore:
    """Artifacts in the relational database: written in the registration's unit of work (one
    commit for row and bytes), read in a short read-only system transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._paths = LocalArtifactStore(Path("."))  # the same path scheme and checks

    async def write(
        self, owner: str | None, name: str, version: int, data: bytes, *, uow: UnitOfWork
    ) -> StoredArtifact:
        path = self._paths.relative_path(owner, name, version)
        digest = hashlib.sha256(data).hexdigest()
        await ArtifactRepository(uow.session).put(path, digest, data)
        return StoredArtifact(path=path, sha256=digest, size=len(data))

    async def read(self, path: str, expected_sha256: str) -> bytes:
        async with self.database.unit_of_work(system=True, read_only=True) as uow:
            row = await ArtifactRepository(uow.session).get(path)
            data = None if row is None else bytes(row.data)
        if data is None:
            raise ArtifactMissingError(
                f"model artifact {path!r} is missing from the database; expected the row "
                "written when the model was registered"
            )
        return _verified(path, data, expected_sha256)
