"""``sliced_units``: consecutive tick frames merged and cut into pieces of bounded size."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chainflow.bridge.frame_units import Unit, sliced_units


def ticks(*seqs: int) -> list[dict[str, int]]:
    return [{"seq": seq} for seq in seqs]


def shape(units: list[Unit]) -> list[tuple[int, list[int] | str]]:
    """Each unit as (receive time, its tick seqs) or (receive time, "message")."""
    return [
        (u.received_us, [t["seq"] for t in u.items] if u.items is not None else "message")
        for u in units
    ]


def test_consecutive_tick_frames_are_merged_and_cut_at_the_bound() -> None:
    units = [
        Unit(10, items=ticks(1)),
        Unit(11, items=ticks(2, 3, 4, 5, 6)),
        Unit(12, message={"type": "hello"}),
        Unit(13, items=ticks(7)),
    ]
    assert shape(list(sliced_units(units, 3))) == [
        (10, [1, 2, 3]),  # the first frame's receive time: its wait counts
        (11, [4, 5, 6]),  # the rest is the second frame's
        (12, "message"),  # a message ends the merge and keeps its place
        (13, [7]),
    ]


def test_a_frame_larger_than_the_bound_is_cut_in_order() -> None:
    assert shape(list(sliced_units([Unit(5, items=ticks(*range(1, 8)))], 3))) == [
        (5, [1, 2, 3]),
        (5, [4, 5, 6]),
        (5, [7]),
    ]


def test_frames_are_taken_only_when_the_piece_before_is_taken() -> None:
    taken: list[int] = []

    def frames() -> Iterator[Unit]:
        for seq in range(1, 5):
            taken.append(seq)
            yield Unit(seq, items=ticks(seq))

    pieces = sliced_units(frames(), 2)
    assert shape([next(pieces)]) == [(1, [1, 2])]
    assert taken == [1, 2]  # the third frame not decoded yet
    assert shape(list(pieces)) == [(3, [3, 4])]


def test_the_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_items >= 1"):
        list(sliced_units([], 0))
