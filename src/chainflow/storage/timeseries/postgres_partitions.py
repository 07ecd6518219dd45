"""Time partitions of the PostgreSQL time-series tables: which ones a batch needs.

Each table is range-partitioned on ``ts`` (epoch ms) by UTC month (or day). A partition is
created on demand, before the first rows of its range are written; the store remembers
the ranges that exist (read from the catalog when a table is declared, and again under a
lock before creating any), so a batch of live ticks costs one comparison per row and no
query. Rows beyond year 9999 land in the table's default partition.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from chainflow.storage.timeseries.tables import INT64_MAX, INT64_MIN

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_BOUND = re.compile(r"FOR VALUES FROM \((.+?)\) TO \((.+?)\)")


class Granularity(StrEnum):
    """The width of one partition."""

    MONTH = "month"
    DAY = "day"


class PartitionRange(NamedTuple):
    """One partition: ``start_ms <= ts < end_ms``, named ``<table><suffix>``."""

    start_ms: int
    end_ms: int
    suffix: str


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


def partition_for(ts: int, granularity: Granularity) -> PartitionRange | None:
    """Return the month (or day) holding ``ts``, or ``None`` past what a date can name."""
    try:
        moment = _EPOCH + timedelta(milliseconds=ts)
        if granularity is Granularity.DAY:
            start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
            return PartitionRange(_ms(start), _ms(start + timedelta(days=1)), f"__{start:%Y%m%d}")
        start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
        year, month = divmod(moment.month, 12)
        end = datetime(moment.year + year, month + 1, 1, tzinfo=UTC)
        return PartitionRange(_ms(start), _ms(end), f"__{start:%Y%m}")
    except (OverflowError, ValueError):
        return None


def parse_bound(expression: str) -> tuple[int, int] | None:
    """Return (start, end) of a ``FOR VALUES FROM (a) TO (b)`` bound; ``None`` for DEFAULT."""
    match = _BOUND.fullmatch(expression.strip())
    if match is None:
        return None
    return _bound_value(match.group(1), INT64_MIN), _bound_value(match.group(2), INT64_MAX)


def _bound_value(text: str, unbounded: int) -> int:
    text = text.strip().strip("'")
    if text.upper() in ("MINVALUE", "MAXVALUE"):
        return unbounded
    return int(text)


class PartitionMap:
    """The ts ranges of one table's existing partitions, sorted and disjoint."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add(start, end)

    def __len__(self) -> int:
        return len(self._starts)

    def add(self, start_ms: int, end_ms: int) -> None:
        """Record the range ``start_ms <= ts < end_ms`` (already existing)."""
        index = bisect.bisect_left(self._starts, start_ms)
        if index < len(self._starts) and self._starts[index] == start_ms:
            return
        self._starts.insert(index, start_ms)
        self._ends.insert(index, end_ms)

    def covering(self, ts: int) -> tuple[int, int] | None:
        """Return the recorded range holding ``ts``, if any."""
        index = bisect.bisect_right(self._starts, ts) - 1
        if index >= 0 and ts < self._ends[index]:
            return self._starts[index], self._ends[index]
        return None

    def missing(self, stamps: Iterable[int], granularity: Granularity) -> list[PartitionRange]:
        """Return the partitions to create so that every ts of ``stamps`` has one.

        A new range is cut where it would overlap an existing one (as left by another
        granularity), and then named by its start instant instead of its month or day.
        """
        needed: dict[int, PartitionRange] = {}
        low, high = 0, -1  # the range of the previous row: consecutive ticks share it
        for ts in stamps:
            if low <= ts < high:
                continue
            existing = self.covering(ts)
            if existing is not None:
                low, high = existing
                continue
            wanted = partition_for(ts, granularity)
            if wanted is None:
                continue  # the default partition takes it
            fitted = self._fit(ts, wanted)
            needed[fitted.start_ms] = fitted
            low, high = fitted.start_ms, fitted.end_ms
        return sorted(needed.values())

    def _fit(self, ts: int, wanted: PartitionRange) -> PartitionRange:
        index = bisect.bisect_right(self._starts, ts)  # the first range starting after ts
        start = max(wanted.start_ms, self._ends[index - 1]) if index > 0 else wanted.start_ms
        end = min(wanted.end_ms, self._starts[index]) if index < len(self._starts) else None
        end = wanted.end_ms if end is None else end
        if (start, end) == (wanted.start_ms, wanted.end_ms):
            return wanted
        return PartitionRange(start, end, f"__{start}")
