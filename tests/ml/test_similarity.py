"""Pattern similarity: window embeddings and ``PatternMemory`` over every vector backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from chainflow.core.ids import TenantId
from chainflow.ml.patterns.similarity import (
    PatternMemory,
    SimilarPatterns,
    pattern_namespace,
    window_embedding,
    window_embeddings,
)
from chainflow.ml.training.labels import DOWN, FLAT, UNUSABLE, UP
from tests.fixtures.backends import unique_name
from tests.fixtures.vectors import VECTOR_BACKENDS, open_started_index

WINDOW = 20
FEATURES = 2
HORIZON = 5
BAR_MS = 60_000
START_MS = 1_700_000_000_000


@dataclass
class History:
    """A feature series with a planted motif, as rows ready for ``add_history``."""

    features: NDArray[np.float64]
    motif: NDArray[np.float64]
    ts: NDArray[np.int64]  # window end of each row
    known_ts: NDArray[np.int64]
    windows: NDArray[np.float64]
    forward_returns: NDArray[np.float64]
    labels: NDArray[np.int64]

    def row(self, window_end: int) -> int:
        return window_end - (WINDOW - 1)

    def window(self, window_end: int) -> NDArray[np.float64]:
        return self.features[window_end - WINDOW + 1 : window_end + 1]


def make_history(plant_at: dict[int, tuple[float, float]], *, bars: int = 600) -> History:
    """Noise with ``motif * scale + level`` planted at each window end of ``plant_at``."""
    rng = np.random.default_rng(11)
    motif = rng.normal(size=(WINDOW, FEATURES))
    features = rng.normal(size=(bars, FEATURES))
    for end, (scale, level) in plant_at.items():
        noise = rng.normal(scale=0.01, size=(WINDOW, FEATURES))
        features[end - WINDOW + 1 : end + 1] = motif * scale + level + noise
    ends = np.arange(WINDOW - 1, bars)
    windows = np.lib.stride_tricks.sliding_window_view(features, WINDOW, axis=0)
    windows = windows.transpose(0, 2, 1)  # (n, window, k)
    ts = START_MS + ends * BAR_MS
    forward_returns = rng.normal(scale=0.01, size=ends.size)
    return History(
        features=features,
        motif=motif,
        ts=ts,
        known_ts=ts + HORIZON * BAR_MS,
        windows=np.ascontiguousarray(windows),
        forward_returns=forward_returns,
        labels=np.where(forward_returns > 0, UP, DOWN).astype(np.int64),
    )


@pytest.fixture(params=VECTOR_BACKENDS)
async def memory(request: pytest.FixtureRequest) -> AsyncIterator[PatternMemory]:
    index = await open_started_index(request.param)
    namespace = pattern_namespace(TenantId(unique_name("tenant")), "EURUSD.a", "M5")
    try:
        yield PatternMemory(index, namespace)
    finally:
        await index.delete_namespace(namespace)
        await index.delete_namespace(namespace + ":truncated")
        await index.close()


async def add(memory: PatternMemory, history: History, rows: slice | None = None) -> int:
    rows = rows or slice(None)
    return await memory.add_history(
        history.ts[rows],
        history.windows[rows],
        forward_returns=history.forward_returns[rows],
        labels=history.labels[rows],
        known_ts=history.known_ts[rows],
    )


class TestWindowEmbedding:
    def test_length_is_window_times_features_and_norm_is_one(self) -> None:
        block = np.random.default_rng(1).normal(size=(WINDOW, 3))
        embedding = window_embedding(block)
        assert embedding.shape == (WINDOW * 3,)
        assert np.linalg.norm(embedding) == pytest.approx(1.0)

    def test_level_and_scale_of_each_feature_do_not_matter(self) -> None:
        block = np.random.default_rng(2).normal(size=(WINDOW, 2))
        moved = block * np.array([3.0, 0.01]) + np.array([1.1, -250.0])
        np.testing.assert_allclose(window_embedding(moved), window_embedding(block), atol=1e-12)

    def test_is_deterministic_and_batch_equals_single(self) -> None:
        blocks = np.random.default_rng(3).normal(size=(4, WINDOW, 2))
        batch = window_embeddings(blocks)
        for i in range(4):
            np.testing.assert_array_equal(batch[i], window_embedding(blocks[i]))
        np.testing.assert_array_equal(window_embeddings(blocks), batch)

    def test_flattens_time_major(self) -> None:
        block = np.array([[0.0, 10.0], [1.0, 30.0], [2.0, 20.0]])
        expected = np.array([-1.0, -1.0, 0.0, 1.0, 1.0, 0.0]) / 2.0
        np.testing.assert_allclose(window_embedding(block), expected, atol=1e-12)

    def test_constant_feature_becomes_zeros(self) -> None:
        block = np.column_stack([np.arange(WINDOW, dtype=float), np.full(WINDOW, 1.2345)])
        embedding = window_embedding(block).reshape(WINDOW, 2)
        assert not embedding[:, 1].any()
        assert np.linalg.norm(embedding) == pytest.approx(1.0)

    def test_all_constant_window_is_the_zero_vector(self) -> None:
        assert not window_embedding(np.full((WINDOW, 2), 7.0)).any()

    def test_one_dimensional_window_is_one_feature(self) -> None:
        series = np.arange(WINDOW, dtype=float) ** 2
        np.testing.assert_array_equal(window_embedding(series), window_embedding(series[:, None]))

    @pytest.mark.parametrize(
        "block", [np.zeros((2, 3, 4)), np.array([[1.0, np.nan], [2.0, 3.0]]), np.zeros((1, 2))]
    )
    def test_bad_block_raises_value_error(self, block: NDArray[np.float64]) -> None:
        with pytest.raises(ValueError, match="expected"):
            window_embedding(block)


class TestPatternNamespace:
    def test_carries_tenant_and_escapes_separators(self) -> None:
        assert pattern_namespace(TenantId("t1"), "EURUSD.a", "M5").startswith("tenant:t1:")
        assert pattern_namespace(TenantId("t1"), "A:B", "M5") != pattern_namespace(
            TenantId("t1:A"), "B", "M5"
        )


class TestAddHistory:
    async def test_skips_rows_without_outcome_or_shape(self, memory: PatternMemory) -> None:
        history = make_history({})
        labels = history.labels.copy()
        returns = history.forward_returns.copy()
        windows = history.windows.copy()
        labels[0] = UNUSABLE
        returns[1] = np.nan
        windows[2] = 5.0
        stored = await memory.add_history(
            history.ts, windows, forward_returns=returns, labels=labels, known_ts=history.known_ts
        )
        assert stored == len(history.ts) - 3
        assert await memory.index.count(memory.namespace) == stored

    async def test_adding_again_replaces_rows(self, memory: PatternMemory) -> None:
        history = make_history({})
        await add(memory, history, slice(0, 50))
        await add(memory, history, slice(0, 50))
        assert await memory.index.count(memory.namespace) == 50

    async def test_outcome_known_before_window_end_raises(self, memory: PatternMemory) -> None:
        history = make_history({})
        with pytest.raises(ValueError, match="known_ts >= ts"):
            await memory.add_history(
                history.ts,
                history.windows,
                forward_returns=history.forward_returns,
                labels=history.labels,
                known_ts=history.ts - 1,
            )

    async def test_mismatched_lengths_raise(self, memory: PatternMemory) -> None:
        history = make_history({})
        with pytest.raises(ValueError, match="shape"):
            await memory.add_history(
                history.ts,
                history.windows,
                forward_returns=history.forward_returns[:-1],
                labels=history.labels,
                known_ts=history.known_ts,
            )


class TestSimilar:
    async def test_planted_motif_is_the_nearest_neighbour(self, memory: PatternMemory) -> None:
        first, second = 150, 450
        history = make_history({first: (1.0, 0.0), second: (3.0, 10.0)})
        await add(memory, history)

        now = int(history.ts[history.row(second)])
        found = await memory.similar(history.window(second), 5, before_ts=now)

        assert found.matches[0].window_ts == history.ts[history.row(first)]
        assert found.matches[0].score > 0.99
        assert found.matches[1].score < 0.6

    async def test_before_ts_excludes_outcomes_not_yet_known(self, memory: PatternMemory) -> None:
        first, second = 150, 450
        history = make_history({first: (1.0, 0.0), second: (2.0, -4.0)})
        await add(memory, history)
        query = history.window(first)
        second_ts = history.ts[history.row(second)]

        everything = await memory.similar(query, 2, before_ts=None)
        assert second_ts in {m.window_ts for m in everything.matches}

        now = int(history.ts[history.row(first)])
        past = await memory.similar(query, 50, before_ts=now)
        assert past.count == 50
        assert all(m.known_ts < now for m in past.matches)
        assert second_ts not in {m.window_ts for m in past.matches}

    async def test_before_ts_boundary_is_strict(self, memory: PatternMemory) -> None:
        first, second = 150, 450
        history = make_history({first: (1.0, 0.0), second: (1.5, 2.0)})
        await add(memory, history)
        first_row = history.row(first)
        known = int(history.known_ts[first_row])

        at_known = await memory.similar(history.window(second), 1, before_ts=known)
        after_known = await memory.similar(history.window(second), 1, before_ts=known + 1)

        assert at_known.matches[0].window_ts != history.ts[first_row]
        assert after_known.matches[0].window_ts == history.ts[first_row]

    async def test_result_equals_that_of_a_history_cut_at_now(self, memory: PatternMemory) -> None:
        history = make_history({150: (1.0, 0.0), 300: (2.0, 1.0), 450: (0.5, -1.0)})
        now = int(history.ts[history.row(350)])
        await add(memory, history)
        cut = PatternMemory(memory.index, memory.namespace + ":truncated")
        await add(cut, history, slice(0, int(np.searchsorted(history.known_ts, now))))

        full = await memory.similar(history.window(450), 10, before_ts=now)
        truncated = await cut.similar(history.window(450), 10, before_ts=now)

        assert [m.window_ts for m in full.matches] == [m.window_ts for m in truncated.matches]
        assert full.mean_forward_return == pytest.approx(truncated.mean_forward_return)

    async def test_outcomes_of_the_matches_aggregate(self, memory: PatternMemory) -> None:
        plants = {100: (1.0, 0.0), 200: (2.0, 5.0), 300: (0.5, -3.0), 400: (4.0, 1.0)}
        outcomes = {100: (0.01, UP), 200: (0.03, UP), 300: (-0.02, DOWN), 400: (0.0, FLAT)}
        history = make_history(plants)
        for end, (forward_return, label) in outcomes.items():
            history.forward_returns[history.row(end)] = forward_return
            history.labels[history.row(end)] = label
        await add(memory, history)
        query = history.motif * 7.0 + 3.0

        found = await memory.similar(query, 4, before_ts=None)

        assert {m.window_ts for m in found.matches} == {history.ts[history.row(e)] for e in plants}
        assert found.mean_forward_return == pytest.approx(0.005)
        assert (found.up_share, found.down_share, found.flat_share) == (0.5, 0.25, 0.25)
        assert found.mean_score == pytest.approx(np.mean([m.score for m in found.matches]))
        for match in found.matches:
            end = next(e for e in plants if history.ts[history.row(e)] == match.window_ts)
            assert (match.forward_return, match.label) == pytest.approx(outcomes[end])
            assert match.known_ts == match.window_ts + HORIZON * BAR_MS

    async def test_constant_query_or_empty_memory_gives_no_matches(
        self, memory: PatternMemory
    ) -> None:
        empty = SimilarPatterns.of(())
        query = np.random.default_rng(5).normal(size=(WINDOW, FEATURES))
        assert await memory.similar(query, 5, before_ts=None) == empty
        await add(memory, make_history({}))
        assert await memory.similar(np.ones((WINDOW, FEATURES)), 5, before_ts=None) == empty
        assert empty.count == 0
        assert empty.mean_forward_return is None

    async def test_other_namespace_is_not_searched(self, memory: PatternMemory) -> None:
        history = make_history({150: (1.0, 0.0)})
        other = PatternMemory(memory.index, memory.namespace + ":truncated")
        await add(other, history)
        found = await memory.similar(history.window(150), 5, before_ts=None)
        assert found.count == 0
