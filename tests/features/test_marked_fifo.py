"""``marked_fifo.FifoWindow``: a bounded window that undoes its recent values without a copy.

Proves: it keeps what ``deque(maxlen=n)`` keeps; ``rewind`` after 0, 1, a few, or more
values than the window holds gives back exactly the window at the mark, and the mark can be
rewound to again; a mark older than the latest is refused; a mark keeps at most the window
it held; and once its checkpoint is dropped the window keeps nothing more for it. The
regime detector marks its fit window so (``tests/features/test_pipeline_checkpoint.py``).
"""

from __future__ import annotations

import gc
from collections import deque

import pytest

from chainflow.features.errors import FeatureStateMismatchError
from chainflow.features.marked_fifo import FifoWindow
from chainflow.features.regimes import RegimeConfig, RegimeDetector


def filled(maxlen: int, count: int) -> FifoWindow:
    window = FifoWindow(maxlen)
    window.extend(float(i) for i in range(count))
    return window


@pytest.mark.parametrize("count", [0, 3, 8, 25])
def test_it_keeps_what_a_bounded_deque_keeps(count: int) -> None:
    want = deque((float(i) for i in range(count)), maxlen=8)
    window = filled(8, count)
    assert list(window) == list(want) and len(window) == len(want)


@pytest.mark.parametrize("held", [0, 5, 8])
@pytest.mark.parametrize("added", [0, 1, 3, 8, 13])
def test_rewind_gives_back_the_window_at_the_mark(held: int, added: int) -> None:
    window = filled(8, held)
    before = list(window)
    mark = window.mark()
    window.extend(100.0 + i for i in range(added))
    window.rewind(mark)
    assert list(window) == before
    window.extend(200.0 + i for i in range(added))  # and again, from the same mark
    window.rewind(mark)
    assert list(window) == before
    assert len(mark.dropped) == 0


def test_a_mark_keeps_at_most_the_window_it_held() -> None:
    window = filled(8, 8)
    mark = window.mark()
    window.extend(float(i) for i in range(1_000))
    assert len(mark.dropped) == 8
    window.rewind(mark)
    assert list(window) == [float(i) for i in range(8)]


def test_an_older_mark_is_refused_and_changes_nothing() -> None:
    window = filled(8, 10)
    old = window.mark()
    window.append(50.0)
    window.mark()
    before = list(window)
    with pytest.raises(FeatureStateMismatchError, match="latest mark"):
        window.rewind(old)
    assert list(window) == before


def test_a_dropped_mark_is_released_and_nothing_is_kept_for_it() -> None:
    window = filled(8, 8)
    mark = window.mark()
    del mark
    gc.collect()
    window.extend(float(i) for i in range(20))
    assert window._mark is None  # noqa: SLF001 (nothing held for a dead checkpoint)


def test_the_regime_detector_fit_window_is_what_its_snapshot_says() -> None:
    config = RegimeConfig(fit_window=60, min_fit_values=40, refit_every_bars=20)
    detector = RegimeDetector(config, 300_000)
    for i in range(100):
        close = 1.1 + 0.001 * (i % 9)
        detector.update(1_700_000_000_000 + i * 300_000, close + 0.0005, close - 0.0005, close)
    (window,) = detector.windows()
    assert list(window) == detector.snapshot()["fit_values"] and len(window) == 60
    restored = RegimeDetector(config, 300_000)
    restored.restore(detector.snapshot())
    assert restored.snapshot() == detector.snapshot()
