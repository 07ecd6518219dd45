"""In-process vector index: one NumPy matrix of unit vectors per namespace, exact cosine.

The embedded default of ``CHAINFLOW_VECTOR_URL`` (``memory://``). Nothing is persisted:
callers rebuild their namespaces from history at start. A search is one matrix-vector
product over the namespace, which is exact and fast up to a few hundred thousand items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import orjson
from numpy.typing import NDArray

from chainflow.core.health import HealthReport
from chainflow.storage.api import VectorItem, VectorMatch
from chainflow.storage.vectors import (
    check_dimension,
    clamp_score,
    prepare_items,
    prepare_query,
    validate_namespace,
)

INITIAL_CAPACITY = 64


class _Namespace:
    """The items of one namespace; rows ``0 .. size-1`` of the arrays are in use."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.size = 0
        self.rows: dict[str, int] = {}
        self.ids: list[str] = []
        self.payloads: list[bytes] = []
        self.units = np.zeros((INITIAL_CAPACITY, dimension), dtype=np.float64)
        self.ts = np.zeros(INITIAL_CAPACITY, dtype=np.int64)
        self.has_ts = np.zeros(INITIAL_CAPACITY, dtype=bool)

    def put(self, item_id: str, unit: NDArray[np.float64], payload: bytes, ts: int | None) -> None:
        row = self.rows.get(item_id)
        if row is None:
            if self.size == self.units.shape[0]:
                self._grow()
            row = self.size
            self.size += 1
            self.rows[item_id] = row
            self.ids.append(item_id)
            self.payloads.append(payload)
        else:
            self.payloads[row] = payload
        self.units[row] = unit
        self.ts[row] = 0 if ts is None else ts
        self.has_ts[row] = ts is not None

    def _grow(self) -> None:
        capacity = self.units.shape[0] * 2
        self.units = np.resize(self.units, (capacity, self.dimension))
        self.ts = np.resize(self.ts, capacity)
        self.has_ts = np.resize(self.has_ts, capacity)


class InProcessVectorIndex:
    """``storage.api.VectorIndex`` held in this process's memory."""

    backend = "memory"

    def __init__(self) -> None:
        self._namespaces: dict[str, _Namespace] = {}

    async def start(self) -> None:
        """Nothing to connect; present for the common lifecycle."""

    async def close(self) -> None:
        """Drop every namespace."""
        self._namespaces.clear()

    async def health(self) -> HealthReport:
        """Report the index as healthy, with its namespace and item counts."""
        return HealthReport(
            name="vectors",
            ok=True,
            backend=self.backend,
            extra={
                "namespaces": len(self._namespaces),
                "items": sum(n.size for n in self._namespaces.values()),
            },
        )

    async def upsert(self, namespace: str, items: Sequence[VectorItem]) -> int:
        """Insert or replace ``items``; return how many distinct ids were written."""
        prepared = prepare_items(namespace, items)
        if not prepared:
            return 0
        dimension = prepared[0].vector.shape[0]
        space = self._namespaces.get(namespace)
        if space is not None:
            check_dimension(namespace, space.dimension, dimension)
        else:
            space = self._namespaces[namespace] = _Namespace(dimension)
        for item in prepared:
            unit = item.vector / np.linalg.norm(item.vector)
            space.put(item.id, unit, item.payload_json, item.ts)
        return len(prepared)

    async def search(
        self, namespace: str, vector: Sequence[float], k: int, *, before_ts: int | None = None
    ) -> list[VectorMatch]:
        """Return the ``k`` nearest items by cosine similarity, best first, ties by id."""
        query = prepare_query(namespace, vector, k, before_ts)
        space = self._namespaces.get(namespace)
        if space is None:
            return []
        check_dimension(namespace, space.dimension, query.shape[0])
        n = space.size
        scores = space.units[:n] @ (query / np.linalg.norm(query))
        candidates = np.arange(n)
        if before_ts is not None:
            candidates = candidates[space.has_ts[:n] & (space.ts[:n] < before_ts)]
        if candidates.size == 0:
            return []
        if candidates.size > k:
            # Keep every candidate tied with the k-th best, so ties resolve by id below.
            kth = np.partition(scores[candidates], -k)[-k]
            candidates = candidates[scores[candidates] >= kth]
        ids = [space.ids[i] for i in candidates]
        order = sorted(range(len(candidates)), key=lambda j: (-scores[candidates[j]], ids[j]))
        return [
            VectorMatch(
                id=ids[j],
                score=clamp_score(float(scores[candidates[j]])),
                payload=orjson.loads(space.payloads[candidates[j]]),
            )
            for j in order[:k]
        ]

    async def delete_namespace(self, namespace: str) -> int:
        """Delete every item of ``namespace``; return how many there were."""
        validate_namespace(namespace)
        space = self._namespaces.pop(namespace, None)
        return 0 if space is None else space.size

    async def count(self, namespace: str) -> int:
        """Return how many items ``namespace`` holds."""
        validate_namespace(namespace)
        space = self._namespaces.get(namespace)
        return 0 if space is None else space.size
