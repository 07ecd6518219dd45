"""The stored-tick index (``tick_dedup``) on an in-memory table of stored tick keys: which
commits read the store, and what an unknown outcome or another writer changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainflow.storage.timeseries.tables import EncodedRow
from chainflow.storage.timeseries.tick_dedup import StoredTickIndex

PAIR = ("tenant-a", "EURUSD")


class StoredKeys:
    """The (ts, bid, ask) keys a store holds, read the way the store reads them."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, float, float]] = []

    async def read(self, tenant: str, symbol: str, start: int, end: int) -> Sequence[Any]:
        assert (tenant, symbol) == PAIR
        return [key for key in self.keys if start <= key[0] < end]


def rows(*stamps: int) -> list[EncodedRow]:
    return [(*PAIR, ts, 1.1, 1.2, 0.0) for ts in stamps]


async def commit(index: StoredTickIndex, stored: StoredKeys, batch: list[EncodedRow]) -> list[bool]:
    mask = await index.unseen(batch)
    stored.keys += [(r[2], r[3], r[4]) for r, new in zip(batch, mask, strict=True) if new]
    index.committed(batch, mask)
    return mask


async def test_live_ticks_past_the_watermark_need_no_read() -> None:
    stored = StoredKeys()
    index = StoredTickIndex(stored.read)
    assert await commit(index, stored, rows(1, 2, 3)) == [True] * 3
    reads = index.reads

    assert await commit(index, stored, rows(4, 5)) == [True, True]
    assert index.reads == reads


async def test_after_a_commit_of_unknown_outcome_the_resend_is_checked_against_the_store() -> None:
    stored = StoredKeys()
    index = StoredTickIndex(stored.read)
    await commit(index, stored, rows(1, 2, 3))
    batch = rows(4, 5, 6)
    assert await index.unseen(batch) == [True] * 3
    # The write was lost mid-way, yet its session committed: the rows are stored.
    stored.keys += [(r[2], r[3], r[4]) for r in batch]
    index.forget(batch)

    assert await commit(index, stored, rows(4, 5, 6, 7)) == [False, False, False, True]
    assert index.watermark(*PAIR) == 7


async def test_refresh_raises_a_stale_watermark_and_never_lowers_one() -> None:
    stored = StoredKeys()
    index = StoredTickIndex(stored.read)
    await commit(index, stored, rows(1, 2))
    stored.keys += [(ts, 1.1, 1.2) for ts in (3, 4, 5)]  # another process stored these

    assert index.refresh(*PAIR, 5) == 5
    assert await commit(index, stored, rows(4, 5, 6)) == [False, False, True]
    assert index.refresh(*PAIR, 3) == 6
    assert index.refresh("tenant-b", "GBPUSD", None) == -1
