"""Pattern similarity: find past windows that looked like this one, and what followed them.

``window_embedding`` turns a ``(window, k)`` block of features into one fixed-length vector:
each feature (column) is standardized within the window (minus its mean, over its population
standard deviation; a column constant over the window becomes zeros), the block is flattened
time-major (all k features of the first row, then of the second, ...) and scaled to unit
length. Two windows therefore embed alike when their features *move* alike, whatever their
level and amplitude: a motif repeated at another price and at another volatility is the
same point. Feed it a few features that carry shape (closes, log returns, range in ATR
units); the embedding of a window in which every feature is constant is all zeros and is
neither stored nor searched.

``PatternMemory`` keeps those embeddings in a ``storage.api.VectorIndex`` namespace, each
with what followed it: the forward return, the label (``labels.DOWN``/``FLAT``/``UP``) and
``ts``, the time at which that outcome became known (the label's end bar, not the window's
end). ``similar(..., before_ts=now)`` searches only outcomes known before ``now``, so a
backtest at time t never sees a future it could not have known at t. Namespaces carry the
tenant: build them with ``pattern_namespace``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.core.ids import TenantId
from chainflow.ml.errors import InvalidMlInputError
from chainflow.ml.training.labels import DOWN, FLAT, UNUSABLE, UP
from chainflow.storage.api import VectorIndex, VectorItem, VectorMatch

__all__ = [
    "EMBEDDING_NAME",
    "PatternMatch",
    "PatternMemory",
    "SimilarPatterns",
    "pattern_namespace",
    "window_embedding",
    "window_embeddings",
]

EMBEDDING_NAME = "zscore-window@1"
UPSERT_BATCH = 1000
_CONSTANT_TOLERANCE = 1e-12

FloatArray = NDArray[np.float64]


def pattern_namespace(tenant_id: TenantId, symbol: str, timeframe: str) -> str:
    """Return the namespace of one tenant's patterns of ``symbol`` on ``timeframe``."""
    parts = (str(tenant_id), symbol, timeframe)
    return "tenant:" + ":".join(quote(p, safe="") for p in parts) + f":{EMBEDDING_NAME}"


def window_embedding(features: ArrayLike) -> FloatArray:
    """Embed one ``(window, k)`` block (or a 1-D window of one feature) as a unit vector."""
    block = np.asarray(features, dtype=np.float64)
    if block.ndim == 1:
        block = block[:, None]
    if block.ndim != 2:
        raise InvalidMlInputError(
            f"expected features of shape (window, k); received shape {block.shape}"
        )
    return window_embeddings(block[None, :, :])[0]


def window_embeddings(windows: ArrayLike) -> FloatArray:
    """Embed ``(n, window, k)`` blocks at once; row i equals ``window_embedding(windows[i])``."""
    blocks = np.asarray(windows, dtype=np.float64)
    if blocks.ndim != 3 or blocks.shape[1] < 2 or blocks.shape[2] < 1:
        raise InvalidMlInputError(
            f"expected windows of shape (n, window >= 2, k >= 1); received shape {blocks.shape}"
        )
    if not np.isfinite(blocks).all():
        raise InvalidMlInputError("expected finite features; received NaN or infinity in a window")
    mean = blocks.mean(axis=1, keepdims=True)
    std = blocks.std(axis=1, keepdims=True)
    is_constant = std <= _CONSTANT_TOLERANCE * np.maximum(1.0, np.abs(mean))
    scaled = np.where(is_constant, 0.0, (blocks - mean) / np.where(is_constant, 1.0, std))
    flat = scaled.reshape(blocks.shape[0], -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.where(norms > 0.0, flat / np.where(norms > 0.0, norms, 1.0), 0.0)


@dataclass(frozen=True, slots=True)
class PatternMatch:
    """A past window like the query: when it ended, when its outcome was known, what followed."""

    window_ts: int
    known_ts: int
    score: float
    forward_return: float
    label: int


@dataclass(frozen=True, slots=True)
class SimilarPatterns:
    """The nearest past windows, best first, and what followed them on average.

    The aggregates are None when there are no matches. Shares are fractions of the matches
    whose label was UP, DOWN or FLAT; ``mean_forward_return`` is their plain mean.
    """

    matches: tuple[PatternMatch, ...]
    mean_forward_return: float | None
    up_share: float | None
    down_share: float | None
    flat_share: float | None
    mean_score: float | None

    @property
    def count(self) -> int:
        return len(self.matches)

    @classmethod
    def of(cls, matches: Sequence[PatternMatch]) -> SimilarPatterns:
        if not matches:
            return cls((), None, None, None, None, None)
        n = len(matches)
        labels = [m.label for m in matches]
        return cls(
            matches=tuple(matches),
            mean_forward_return=math.fsum(m.forward_return for m in matches) / n,
            up_share=labels.count(UP) / n,
            down_share=labels.count(DOWN) / n,
            flat_share=labels.count(FLAT) / n,
            mean_score=math.fsum(m.score for m in matches) / n,
        )


class PatternMemory:
    """Past windows of one namespace in a vector index, searchable by shape."""

    def __init__(self, index: VectorIndex, namespace: str) -> None:
        self.index = index
        self.namespace = namespace

    async def add_history(
        self,
        ts: ArrayLike,
        windows: ArrayLike,
        *,
        forward_returns: ArrayLike,
        labels: ArrayLike,
        known_ts: ArrayLike,
    ) -> int:
        """Store each window with what followed it; return how many were stored.

        ``ts[i]`` is the end of window i (its id: adding it again replaces it),
        ``known_ts[i]`` the time its outcome became known (``>= ts[i]``). Rows whose label
        is ``UNUSABLE``, whose forward return is not finite or whose features are constant
        are skipped: they have no outcome, or no shape, to compare.
        """
        window_ts = _int_column("ts", ts)
        n = window_ts.shape[0]
        known = _int_column("known_ts", known_ts, n)
        returns = np.asarray(forward_returns, dtype=np.float64)
        classes = _int_column("labels", labels, n)
        if returns.shape != (n,):
            raise InvalidMlInputError(
                f"expected forward_returns of shape ({n},); received {returns.shape}"
            )
        if np.any(known < window_ts):
            raise InvalidMlInputError(
                "expected known_ts >= ts for every row: an outcome follows its window"
            )
        bad = ~np.isin(classes, (DOWN, FLAT, UP, UNUSABLE))
        if np.any(bad):
            raise InvalidMlInputError(
                f"expected labels among DOWN, FLAT, UP, UNUSABLE; received {classes[bad][0]}"
            )
        embeddings = window_embeddings(windows)
        if embeddings.shape[0] != n:
            raise InvalidMlInputError(
                f"expected {n} windows like ts; received {embeddings.shape[0]}"
            )
        keep = (classes != UNUSABLE) & np.isfinite(returns) & np.any(embeddings != 0.0, axis=1)
        items: list[VectorItem] = [
            (
                str(int(window_ts[i])),
                embeddings[i].tolist(),
                {
                    "ts": int(known[i]),
                    "window_ts": int(window_ts[i]),
                    "forward_return": float(returns[i]),
                    "label": int(classes[i]),
                },
            )
            for i in np.flatnonzero(keep)
        ]
        stored = 0
        for start in range(0, len(items), UPSERT_BATCH):
            stored += await self.index.upsert(self.namespace, items[start : start + UPSERT_BATCH])
        return stored

    async def similar(self, window: ArrayLike, k: int, *, before_ts: int | None) -> SimilarPatterns:
        """Return the ``k`` stored windows nearest ``window`` whose outcome was known before
        ``before_ts`` (None: every stored window), with their aggregate outcome."""
        embedding = window_embedding(window)
        if not np.any(embedding):
            return SimilarPatterns.of(())
        found = await self.index.search(self.namespace, embedding.tolist(), k, before_ts=before_ts)
        return SimilarPatterns.of([_pattern_match(m) for m in found])

    async def clear(self) -> int:
        """Forget every stored window of this namespace; return how many there were."""
        return await self.index.delete_namespace(self.namespace)


def _pattern_match(match: VectorMatch) -> PatternMatch:
    payload = match.payload
    return PatternMatch(
        window_ts=int(payload["window_ts"]),
        known_ts=int(payload["ts"]),
        score=match.score,
        forward_return=float(payload["forward_return"]),
        label=int(payload["label"]),
    )


def _int_column(name: str, values: ArrayLike, size: int | None = None) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1 or (size is not None and array.shape[0] != size):
        expected = f"({size},)" if size is not None else "one-dimensional"
        raise InvalidMlInputError(
            f"expected {name} of shape {expected}; received shape {array.shape}"
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InvalidMlInputError(f"expected integer {name}; received dtype {array.dtype}")
    return array.astype(np.int64)
