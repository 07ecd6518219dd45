"""Contract of ``storage.api.VectorIndex``: every backend passes the same assertions.

The pgvector backend shares one table on the local PostgreSQL; each test works in its own
namespace and deletes it afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest

from chainflow.core.clock import WallClock
from chainflow.core.errors import ConfigurationError, DependencyUnavailable, InvalidInput
from chainflow.core.settings import VectorSettings
from chainflow.storage.api import VectorIndex, VectorMatch
from chainflow.storage.vectors import open_vector_index
from tests.fixtures.backends import unique_name
from tests.fixtures.vectors import VECTOR_BACKENDS, open_started_index

UNREACHABLE_URL = "postgresql://vector-user:s3cret-pw@127.0.0.1:1/vectors"
SCORE_TOLERANCE = 1e-5  # pgvector stores float32


@dataclass
class IndexUnderTest:
    index: VectorIndex
    namespace: str

    def other_namespace(self) -> str:
        return f"{self.namespace}:other"


@pytest.fixture(params=VECTOR_BACKENDS)
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[IndexUnderTest]:
    index = await open_started_index(request.param)
    under_test = IndexUnderTest(index, f"tenant:{unique_name('vec')}:EURUSD:M1")
    try:
        yield under_test
    finally:
        await index.delete_namespace(under_test.namespace)
        await index.delete_namespace(under_test.other_namespace())
        await index.close()


def ids(matches: list[VectorMatch]) -> list[str]:
    return [m.id for m in matches]


class TestOpenVectorIndex:
    def test_memory_url_returns_in_process_index(self) -> None:
        index = open_vector_index(VectorSettings(url="memory://"), WallClock())
        assert isinstance(index, VectorIndex)
        assert index.backend == "memory"

    @pytest.mark.parametrize(
        "url",
        [
            "postgresql://u@127.0.0.1:5432/db",
            "postgres://u@h/db",
            "postgresql+asyncpg://u:p@h:5432/db",
        ],
    )
    def test_postgres_url_returns_pgvector_index_without_connecting(self, url: str) -> None:
        index = open_vector_index(VectorSettings(url=url), WallClock())
        assert isinstance(index, VectorIndex)
        assert index.backend == "pgvector"

    def test_unknown_scheme_raises_configuration_error_without_password(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            open_vector_index(VectorSettings(url="weaviate://u:hunter2@h:8080"), WallClock())
        message = caught.value.message
        assert "hunter2" not in message
        for scheme in ("memory://", "postgresql://"):
            assert scheme in message


class TestUpsert:
    async def test_upsert_returns_written_count_and_count_reflects_it(
        self, subject: IndexUnderTest
    ) -> None:
        written = await subject.index.upsert(
            subject.namespace, [("a", [1.0, 0.0], {}), ("b", [0.0, 1.0], {})]
        )
        assert written == 2
        assert await subject.index.count(subject.namespace) == 2

    async def test_empty_upsert_writes_nothing(self, subject: IndexUnderTest) -> None:
        assert await subject.index.upsert(subject.namespace, []) == 0
        assert await subject.index.count(subject.namespace) == 0

    async def test_same_id_replaces_vector_and_payload(self, subject: IndexUnderTest) -> None:
        await subject.index.upsert(subject.namespace, [("a", [1.0, 0.0], {"v": 1})])
        await subject.index.upsert(subject.namespace, [("a", [0.0, 1.0], {"v": 2})])
        [match] = await subject.index.search(subject.namespace, [0.0, 1.0], 5)
        assert (match.id, match.payload) == ("a", {"v": 2})
        assert match.score == pytest.approx(1.0, abs=SCORE_TOLERANCE)
        assert await subject.index.count(subject.namespace) == 1

    async def test_duplicate_ids_in_one_call_keep_the_last(self, subject: IndexUnderTest) -> None:
        written = await subject.index.upsert(
            subject.namespace, [("a", [1.0, 0.0], {"v": 1}), ("a", [0.0, 1.0], {"v": 2})]
        )
        assert written == 1
        [match] = await subject.index.search(subject.namespace, [0.0, 1.0], 5)
        assert match.payload == {"v": 2}

    async def test_payload_round_trips_as_json(self, subject: IndexUnderTest) -> None:
        payload = {"ts": 1_700_000_000_000, "label": 2, "r": -0.0125, "tags": ["a", None, True]}
        await subject.index.upsert(subject.namespace, [("a", [1.0, 2.0, 3.0], payload)])
        [match] = await subject.index.search(subject.namespace, [1.0, 2.0, 3.0], 1)
        assert match.payload == payload

    @pytest.mark.parametrize(
        ("vector", "reason"),
        [
            ([0.0, 0.0, 0.0], "all zeros"),
            ([1.0, float("nan"), 0.0], "finite"),
            ([1.0, float("inf"), 0.0], "finite"),
            ([], "non-empty"),
            ([[1.0, 2.0]], "1-D"),
            (["a", "b", "c"], "numbers"),
        ],
    )
    async def test_bad_vector_raises_invalid_input(
        self, subject: IndexUnderTest, vector: list[object], reason: str
    ) -> None:
        with pytest.raises(InvalidInput, match=reason):
            await subject.index.upsert(subject.namespace, [("a", vector, {})])  # type: ignore[list-item]

    @pytest.mark.parametrize("payload", [{"ts": "1"}, {"ts": True}, {"ts": 1.5}, {"ts": 2**63}])
    async def test_non_integer_ts_raises_invalid_input(
        self, subject: IndexUnderTest, payload: dict[str, object]
    ) -> None:
        with pytest.raises(InvalidInput, match="ts"):
            await subject.index.upsert(subject.namespace, [("a", [1.0], payload)])

    async def test_non_json_payload_raises_invalid_input(self, subject: IndexUnderTest) -> None:
        with pytest.raises(InvalidInput, match="JSON"):
            await subject.index.upsert(subject.namespace, [("a", [1.0], {"x": object()})])

    @pytest.mark.parametrize("item_id", ["", 7, None])
    async def test_bad_id_raises_invalid_input(
        self, subject: IndexUnderTest, item_id: object
    ) -> None:
        with pytest.raises(InvalidInput, match="id"):
            await subject.index.upsert(subject.namespace, [(item_id, [1.0], {})])  # type: ignore[list-item]

    async def test_mixed_dimensions_in_one_call_raise_and_write_nothing(
        self, subject: IndexUnderTest
    ) -> None:
        with pytest.raises(InvalidInput, match="dimensions"):
            await subject.index.upsert(
                subject.namespace, [("a", [1.0, 0.0], {}), ("b", [1.0, 0.0, 0.0], {})]
            )
        assert await subject.index.count(subject.namespace) == 0

    async def test_dimension_other_than_namespace_raises_and_writes_nothing(
        self, subject: IndexUnderTest
    ) -> None:
        await subject.index.upsert(subject.namespace, [("a", [1.0, 0.0], {})])
        with pytest.raises(InvalidInput, match="2 dimensions"):
            await subject.index.upsert(subject.namespace, [("b", [1.0, 0.0, 0.0], {})])
        assert await subject.index.count(subject.namespace) == 1

    async def test_concurrent_first_writes_of_two_dimensions_let_one_win(
        self, subject: IndexUnderTest
    ) -> None:
        results = await asyncio.gather(
            subject.index.upsert(subject.namespace, [("a", [1.0, 0.0], {})]),
            subject.index.upsert(subject.namespace, [("b", [1.0, 0.0, 0.0], {})]),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["InvalidInput", "int"]
        assert await subject.index.count(subject.namespace) == 1


class TestSearch:
    async def test_ranking_and_scores_match_exact_cosine(self, subject: IndexUnderTest) -> None:
        rng = np.random.default_rng(7)
        vectors = rng.normal(size=(300, 16))
        await subject.index.upsert(
            subject.namespace, [(f"i{n:03d}", v.tolist(), {"n": n}) for n, v in enumerate(vectors)]
        )
        query = rng.normal(size=16)
        expected = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
        best = np.argsort(-expected)[:10]

        matches = await subject.index.search(subject.namespace, query.tolist(), 10)

        assert ids(matches) == [f"i{n:03d}" for n in best]
        assert [m.score for m in matches] == pytest.approx(expected[best], abs=SCORE_TOLERANCE)
        assert [m.payload["n"] for m in matches] == best.tolist()

    async def test_scores_are_scale_free_and_span_minus_one_to_one(
        self, subject: IndexUnderTest
    ) -> None:
        await subject.index.upsert(
            subject.namespace,
            [
                ("same", [2.0, 4.0], {}),
                ("opposite", [-1.0, -2.0], {}),
                ("orthogonal", [2.0, -1.0], {}),
            ],
        )
        matches = await subject.index.search(subject.namespace, [100.0, 200.0], 3)
        assert ids(matches) == ["same", "orthogonal", "opposite"]
        assert [m.score for m in matches] == pytest.approx([1.0, 0.0, -1.0], abs=SCORE_TOLERANCE)

    async def test_ties_are_ordered_by_id(self, subject: IndexUnderTest) -> None:
        await subject.index.upsert(
            subject.namespace,
            [("c", [1.0, 0.0], {}), ("a", [1.0, 0.0], {}), ("b", [1.0, 0.0], {})],
        )
        assert ids(await subject.index.search(subject.namespace, [1.0, 0.0], 2)) == ["a", "b"]

    async def test_k_above_count_returns_every_item(self, subject: IndexUnderTest) -> None:
        await subject.index.upsert(
            subject.namespace, [("a", [1.0, 0.0], {}), ("b", [0.0, 1.0], {})]
        )
        assert len(await subject.index.search(subject.namespace, [1.0, 1.0], 50)) == 2

    async def test_missing_namespace_returns_no_matches(self, subject: IndexUnderTest) -> None:
        assert await subject.index.search(subject.namespace, [1.0, 0.0], 3) == []

    async def test_before_ts_keeps_only_earlier_items(self, subject: IndexUnderTest) -> None:
        await subject.index.upsert(
            subject.namespace,
            [
                ("t100", [1.0, 0.0], {"ts": 100}),
                ("t200", [1.0, 0.01], {"ts": 200}),
                ("t300", [1.0, 0.02], {"ts": 300}),
                ("no_ts", [1.0, 0.0], {}),
            ],
        )
        query = [1.0, 0.0]
        assert ids(await subject.index.search(subject.namespace, query, 10, before_ts=200)) == [
            "t100"
        ]
        assert ids(await subject.index.search(subject.namespace, query, 10, before_ts=301)) == [
            "t100",
            "t200",
            "t300",
        ]
        assert await subject.index.search(subject.namespace, query, 10, before_ts=100) == []
        assert len(await subject.index.search(subject.namespace, query, 10)) == 4

    async def test_query_of_other_dimension_raises_invalid_input(
        self, subject: IndexUnderTest
    ) -> None:
        await subject.index.upsert(subject.namespace, [("a", [1.0, 0.0], {})])
        with pytest.raises(InvalidInput, match="dimensions"):
            await subject.index.search(subject.namespace, [1.0, 0.0, 0.0], 1)

    @pytest.mark.parametrize("k", [0, -1, True, 1.5])
    async def test_bad_k_raises_invalid_input(self, subject: IndexUnderTest, k: object) -> None:
        with pytest.raises(InvalidInput, match="k must"):
            await subject.index.search(subject.namespace, [1.0], k)  # type: ignore[arg-type]

    async def test_zero_query_raises_invalid_input(self, subject: IndexUnderTest) -> None:
        with pytest.raises(InvalidInput, match="zeros"):
            await subject.index.search(subject.namespace, [0.0, 0.0], 1)


class TestNamespaces:
    async def test_namespaces_never_see_each_other(self, subject: IndexUnderTest) -> None:
        other = subject.other_namespace()
        await subject.index.upsert(subject.namespace, [("a", [1.0, 0.0], {"owner": "mine"})])
        await subject.index.upsert(other, [("a", [1.0, 0.0], {"owner": "other"})])
        await subject.index.upsert(other, [("b", [1.0, 0.0], {"owner": "other"})])

        matches = await subject.index.search(subject.namespace, [1.0, 0.0], 10)

        assert [(m.id, m.payload["owner"]) for m in matches] == [("a", "mine")]
        assert await subject.index.count(subject.namespace) == 1
        assert await subject.index.count(other) == 2

    async def test_delete_namespace_returns_count_and_leaves_others(
        self, subject: IndexUnderTest
    ) -> None:
        other = subject.other_namespace()
        await subject.index.upsert(subject.namespace, [("a", [1.0], {}), ("b", [2.0], {})])
        await subject.index.upsert(other, [("a", [1.0], {})])

        assert await subject.index.delete_namespace(subject.namespace) == 2
        assert await subject.index.count(subject.namespace) == 0
        assert await subject.index.count(other) == 1
        assert await subject.index.delete_namespace(subject.namespace) == 0

    async def test_deleted_namespace_accepts_a_new_dimension(self, subject: IndexUnderTest) -> None:
        await subject.index.upsert(subject.namespace, [("a", [1.0, 0.0], {})])
        await subject.index.delete_namespace(subject.namespace)
        assert await subject.index.upsert(subject.namespace, [("a", [1.0, 0.0, 0.0], {})]) == 1

    @pytest.mark.parametrize("namespace", ["", "x" * 513])
    async def test_bad_namespace_raises_invalid_input(
        self, subject: IndexUnderTest, namespace: str
    ) -> None:
        with pytest.raises(InvalidInput, match="namespace"):
            await subject.index.upsert(namespace, [("a", [1.0], {})])
        with pytest.raises(InvalidInput, match="namespace"):
            await subject.index.search(namespace, [1.0], 1)
        with pytest.raises(InvalidInput, match="namespace"):
            await subject.index.count(namespace)


class TestLifecycle:
    async def test_health_reports_ok_with_backend(self, subject: IndexUnderTest) -> None:
        report = await subject.index.health()
        assert report.ok is True
        assert report.backend == subject.index.backend

    async def test_start_twice_is_harmless(self, subject: IndexUnderTest) -> None:
        await subject.index.start()
        await subject.index.upsert(subject.namespace, [("a", [1.0], {})])
        assert await subject.index.count(subject.namespace) == 1

    async def test_unreachable_pgvector_raises_dependency_unavailable_without_password(
        self,
    ) -> None:
        index = open_vector_index(VectorSettings(url=UNREACHABLE_URL), WallClock())
        with pytest.raises(DependencyUnavailable) as caught:
            await index.start()
        assert "s3cret-pw" not in str(caught.value)
        assert "127.0.0.1:1" in caught.value.message
        await index.close()
