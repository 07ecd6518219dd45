"""Vector index backends: in-process (NumPy, exact) by default, pgvector at scale.

``open_vector_index`` picks the backend from ``CHAINFLOW_VECTOR_URL``'s scheme. This module
also holds the argument checks both backends share, so that they accept and refuse the same
inputs with the same errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
from numpy.typing import NDArray

from chainflow.core.clock import Clock
from chainflow.core.errors import ConfigurationError, InvalidInput
from chainflow.core.logging import redact_url
from chainflow.core.optional import load_backend
from chainflow.core.settings import VectorSettings
from chainflow.storage.api import VectorIndex, VectorItem

MEMORY_SCHEMES = ("memory",)
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
ACCEPTED_SCHEMES = MEMORY_SCHEMES + POSTGRES_SCHEMES
MAX_NAMESPACE_LENGTH = 512
MAX_ID_LENGTH = 512
MAX_K = 10_000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def open_vector_index(settings: VectorSettings, clock: Clock) -> VectorIndex:
    """Build the index named by ``settings.url``; the caller starts and closes it."""
    scheme = urlsplit(settings.url).scheme.lower()
    if scheme in MEMORY_SCHEMES:
        from chainflow.storage.vectors.memory import InProcessVectorIndex

        return InProcessVectorIndex()
    if scheme in POSTGRES_SCHEMES:
        backend_class = load_backend(
            "chainflow.storage.vectors.pgvector_index",
            "PgVectorIndex",
            library="asyncpg",
            extra="postgres",
            purpose=f"vector URL {redact_url(settings.url)!r}",
        )
        return backend_class(settings.url, clock)
    accepted = ", ".join(f"{s}://" for s in ACCEPTED_SCHEMES)
    raise ConfigurationError(
        f"vector URL must start with one of {accepted}; received {redact_url(settings.url)!r}"
    )


@dataclass(frozen=True, slots=True)
class PreparedItem:
    """A checked item: ``vector`` finite and non-zero, ``payload_json`` a JSON object."""

    id: str
    vector: NDArray[np.float64]
    payload_json: bytes
    ts: int | None


def validate_namespace(namespace: str) -> None:
    """Raise ``InvalidInput`` unless ``namespace`` is a non-empty string of sane length."""
    if not isinstance(namespace, str) or not namespace or len(namespace) > MAX_NAMESPACE_LENGTH:
        raise InvalidInput(
            f"namespace must be a non-empty string of at most {MAX_NAMESPACE_LENGTH} "
            f"characters; received {namespace!r:.80}"
        )


def prepare_items(namespace: str, items: Sequence[VectorItem]) -> list[PreparedItem]:
    """Check ``items`` and return them de-duplicated by id (the last wins), in first order."""
    validate_namespace(namespace)
    prepared: dict[str, PreparedItem] = {}
    dimension: int | None = None
    for position, item in enumerate(items):
        try:
            item_id, raw_vector, payload = item
        except (TypeError, ValueError) as e:
            raise InvalidInput(
                f"item {position} must be a tuple (id, vector, payload); received {item!r:.80}"
            ) from e
        if not isinstance(item_id, str) or not item_id or len(item_id) > MAX_ID_LENGTH:
            raise InvalidInput(
                f"item {position}: id must be a non-empty string of at most {MAX_ID_LENGTH} "
                f"characters; received {item_id!r:.80}"
            )
        vector = as_vector(raw_vector, what=f"item {item_id!r}")
        if dimension is None:
            dimension = vector.shape[0]
        elif vector.shape[0] != dimension:
            raise InvalidInput(
                f"every vector of one upsert must have {dimension} dimensions; item "
                f"{item_id!r} has {vector.shape[0]}"
            )
        payload_json, ts = _encode_payload(item_id, payload)
        prepared.pop(item_id, None)
        prepared[item_id] = PreparedItem(item_id, vector, payload_json, ts)
    return list(prepared.values())


def prepare_query(
    namespace: str, vector: Sequence[float], k: int, before_ts: int | None
) -> NDArray[np.float64]:
    """Check a search's arguments and return the query as a float64 array."""
    validate_namespace(namespace)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be an integer from 1 to {MAX_K}; received {k!r}")
    if before_ts is not None and (
        isinstance(before_ts, bool)
        or not isinstance(before_ts, int)
        or not INT64_MIN <= before_ts <= INT64_MAX
    ):
        raise InvalidInput(f"before_ts must be an integer or None; received {before_ts!r}")
    return as_vector(vector, what="the query vector")


def check_dimension(namespace: str, expected: int, received: int) -> None:
    """Raise ``InvalidInput`` when a vector's length differs from the namespace's."""
    if expected != received:
        raise InvalidInput(
            f"namespace {namespace!r} holds vectors of {expected} dimensions; "
            f"received one of {received}"
        )


def as_vector(values: Sequence[float], *, what: str) -> NDArray[np.float64]:
    """Return ``values`` as a 1-D float64 array; refuse empty, non-finite or zero vectors."""
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"{what} must be a sequence of numbers; received {values!r:.80}") from e
    if vector.ndim != 1 or vector.shape[0] == 0:
        raise InvalidInput(f"{what} must be a non-empty 1-D vector; received shape {vector.shape}")
    if not np.isfinite(vector).all():
        raise InvalidInput(f"{what} must contain only finite numbers; received NaN or infinity")
    if not np.any(vector):
        raise InvalidInput(f"{what} must not be all zeros: it has no direction to compare")
    return vector


def clamp_score(score: float) -> float:
    """Clamp a cosine similarity into [-1, 1] (rounding can step just outside)."""
    return min(1.0, max(-1.0, float(score))) if math.isfinite(score) else 0.0


def _encode_payload(item_id: str, payload: Mapping[str, Any]) -> tuple[bytes, int | None]:
    if not isinstance(payload, Mapping):
        raise InvalidInput(
            f"item {item_id!r}: payload must be a JSON object; received {type(payload).__name__}"
        )
    ts = payload.get("ts")
    if ts is not None and (
        isinstance(ts, bool) or not isinstance(ts, int) or not INT64_MIN <= ts <= INT64_MAX
    ):
        raise InvalidInput(
            f"item {item_id!r}: payload ts must be an integer (epoch ms); received {ts!r}"
        )
    try:
        encoded = orjson.dumps(dict(payload))
    except TypeError as e:
        raise InvalidInput(f"item {item_id!r}: payload is not JSON-serializable: {e}") from e
    return encoded, ts
