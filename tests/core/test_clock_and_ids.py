import uuid

import pytest

from chainflow.core.clock import SimulatedClock, WallClock
from chainflow.core.ids import new_id


class TestSimulatedClock:
    def test_moves_only_when_told(self) -> None:
        clock = SimulatedClock(1_700_000_000_000)
        assert clock.now_ms() == 1_700_000_000_000
        clock.advance_ms(1500)
        assert clock.now_ms() == 1_700_000_001_500
        assert clock.now().tzinfo is not None

    def test_refuses_to_go_back(self) -> None:
        clock = SimulatedClock(1000)
        with pytest.raises(ValueError, match="cannot go back"):
            clock.set_ms(999)


class TestWallClock:
    def test_now_ms_matches_now(self) -> None:
        clock = WallClock()
        assert abs(clock.now_ms() - clock.now().timestamp() * 1000) < 1000


class TestNewId:
    def test_is_uuid7_hex_and_unique(self) -> None:
        ids = [new_id() for _ in range(2000)]
        assert len(set(ids)) == 2000
        parsed = uuid.UUID(hex=ids[0])
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122

    def test_is_time_ordered_across_milliseconds(self) -> None:
        first = new_id()
        import time

        time.sleep(0.002)
        assert new_id() > first


class TestNewIdMonotonic:
    def test_strictly_increasing_within_one_millisecond(self) -> None:
        ids = [new_id() for _ in range(10_000)]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)

    def test_increasing_across_threads(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            batches = list(pool.map(lambda _: [new_id() for _ in range(2000)], range(4)))
        everything = [i for batch in batches for i in batch]
        assert len(set(everything)) == len(everything)
        for batch in batches:
            assert batch == sorted(batch)
