"""Exactly-once ticks: a tick already stored is never stored again, across restarts.

A tick's identity is ``(tenant_id, symbol, ts, bid, ask)``. MT5 clients resend every tick
no ack covered (docs/mt5-protocol.md §8), up to their whole unacked window and after a
server restart, so the store itself, not a memory of recent ticks, decides what is new.

Per (tenant, symbol) the index keeps a *watermark*: no stored tick has a later ``ts``.
A live feed's ticks are later than it and are new without a read; only ticks at or before
it (resends, late ticks) cost one range read of the stored keys they could repeat. The
first commit of a pair in a process reads from its earliest ``ts`` onward, which both
checks the batch and sets the watermark, so a restart needs no scan of the whole table.

The index is correct for one writing process per tenant feed: the embedded store is
single-process by construction, and at scale a tenant's ingestion runs in one bridge.
Commits are serialized by the group-commit writer, so check-then-insert cannot race.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from chainflow.storage.timeseries.tables import INT64_MAX, EncodedRow

TickKey = tuple[int, float, float]
"""(ts, bid, ask): a tick's identity within its tenant and symbol."""

ReadKeys = Callable[[str, str, int, int], Awaitable[Sequence[Sequence[Any]]]]
"""Read the (ts, bid, ask) of stored ticks of (tenant, symbol) with start <= ts < end."""

# Column positions in an encoded row of the ``ticks`` table (key columns, then values).
_TENANT, _SYMBOL, _TS, _BID, _ASK = 0, 1, 2, 3, 4


class StoredTickIndex:
    """Decide which rows of a ``ticks`` commit are not stored yet."""

    __slots__ = ("_read_keys", "_watermarks", "reads")

    def __init__(self, read_keys: ReadKeys) -> None:
        self._read_keys = read_keys
        self._watermarks: dict[tuple[str, str], int] = {}
        self.reads = 0

    async def unseen(self, rows: Sequence[EncodedRow]) -> list[bool]:
        """Return, per row, whether it is neither stored nor repeated earlier in ``rows``."""
        mask = [False] * len(rows)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, row in enumerate(rows):
            groups.setdefault((row[_TENANT], row[_SYMBOL]), []).append(index)
        for pair, indexes in groups.items():
            stored = await self._stored_keys(pair, rows, indexes)
            taken: set[TickKey] = set()
            for index in indexes:
                row = rows[index]
                key = (row[_TS], row[_BID], row[_ASK])
                if key in stored or key in taken:
                    continue
                taken.add(key)
                mask[index] = True
        return mask

    def watermark(self, tenant_id: str, symbol: str) -> int | None:
        """Return a ts no stored tick of the pair exceeds, once known (after a commit)."""
        return self._watermarks.get((tenant_id, symbol))

    def forget(self, rows: Sequence[EncodedRow]) -> None:
        """Drop the watermarks of the pairs of ``rows``, whose commit has an unknown
        outcome: their next commit reads what is stored from its earliest tick onward."""
        for row in rows:
            self._watermarks.pop((row[_TENANT], row[_SYMBOL]), None)

    def refresh(self, tenant_id: str, symbol: str, latest_ts: int | None) -> int:
        """Raise the pair's watermark to the latest stored ``ts`` (read by the caller): other
        processes may have stored later ticks of the pair since this one's last commit."""
        pair = (tenant_id, symbol)
        mark = max(self._watermarks.get(pair, -1), -1 if latest_ts is None else latest_ts)
        self._watermarks[pair] = mark
        return mark

    def committed(self, rows: Sequence[EncodedRow], mask: Sequence[bool]) -> None:
        """Advance the watermarks past the rows of ``mask`` now durable."""
        watermarks = self._watermarks
        for row, stored in zip(rows, mask, strict=True):
            if stored:
                pair = (row[_TENANT], row[_SYMBOL])
                if row[_TS] > watermarks.get(pair, -1):
                    watermarks[pair] = row[_TS]

    async def _stored_keys(
        self, pair: tuple[str, str], rows: Sequence[EncodedRow], indexes: list[int]
    ) -> set[TickKey]:
        watermark = self._watermarks.get(pair)
        if watermark is None:
            # First commit of this pair in this process: what is stored from the batch's
            # earliest tick onward is all it could repeat, and its latest ts is the mark.
            start = min(rows[i][_TS] for i in indexes)
            end = INT64_MAX
        else:
            late = [rows[i][_TS] for i in indexes if rows[i][_TS] <= watermark]
            if not late:
                return set()
            start, end = min(late), max(late) + 1
        self.reads += 1
        found = await self._read_keys(pair[0], pair[1], start, end)
        keys = {(int(ts), float(bid), float(ask)) for ts, bid, ask in found}
        if watermark is None:
            # Nothing stored is later than the latest key found, or than start - 1 if none.
            self._watermarks[pair] = max((k[0] for k in keys), default=start - 1)
        return keys
