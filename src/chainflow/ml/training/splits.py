"""Purged walk-forward splits: out-of-sample folds that never train on the test period.

Rule (``purged_walk_forward``): rows are in time order (``ts`` non-decreasing; ties allowed,
e.g. several symbols pooled). The first ``ceil(min_train_fraction * n)`` rows are only ever
trained on; the remaining rows are cut into ``n_folds`` consecutive test blocks (sizes differ
by at most one). Fold ``k`` tests block ``k`` and trains on an expanding window: the rows
*before* the block whose label was known before the block starts, ``label_end_ts < ts`` of
the first test row (the *purge*: a row whose label window reaches into the test period
would teach the model the test period's prices). ``embargo`` additionally drops the last
rows before the test block (an int: rows; a float in [0, 1): that fraction of all rows,
rounded up), a safety gap against serial correlation of features. López de Prado's embargo
of rows *after* a test block has nothing to act on here, since training rows never follow
the test block in a forward walk. So for every fold ``max(label_end_ts[train]) <
min(ts[test])`` and ``max(train) < min(test)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from chainflow.ml.errors import InsufficientDataError, InvalidMlInputError

__all__ = ["Fold", "purged_walk_forward"]

IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Fold:
    """Row indices of one walk-forward fold (both increasing), its position, and how many
    earlier rows the purge and the embargo removed from its training set."""

    train: IntArray
    test: IntArray
    index: int
    purged: int = 0
    embargoed: int = 0

    def describe(self, ts: ArrayLike) -> dict[str, Any]:
        """JSON-ready sizes and time ranges of the fold, ``ts`` being the rows' times."""
        times = np.asarray(ts, dtype=np.int64)
        return {
            "index": self.index,
            "train_rows": int(self.train.size),
            "test_rows": int(self.test.size),
            "purged_rows": self.purged,
            "embargoed_rows": self.embargoed,
            "train_first_ts": int(times[self.train[0]]),
            "train_last_ts": int(times[self.train[-1]]),
            "test_first_ts": int(times[self.test[0]]),
            "test_last_ts": int(times[self.test[-1]]),
        }


def purged_walk_forward(
    ts: ArrayLike,
    label_end_ts: ArrayLike,
    *,
    n_folds: int = 5,
    min_train_fraction: float = 0.4,
    embargo: int | float = 0,
) -> list[Fold]:
    """Expanding-window walk-forward folds with purging (rule in the module docstring).

    Raises ``ValueError`` for bad arguments, unsorted ``ts``, a label known before its row,
    too few rows for the folds, or a fold left without training rows after the purge.
    """
    times = _int_1d("ts", ts)
    ends = _int_1d("label_end_ts", label_end_ts)
    if ends.size != times.size:
        raise InvalidMlInputError(
            f"expected label_end_ts of length {times.size} like ts; received {ends.size}"
        )
    _check_order(times, ends)
    _check_arguments(n_folds, min_train_fraction)
    n = times.size
    gap = _embargo_rows(embargo, n)
    initial = math.ceil(min_train_fraction * n)
    if n - initial < n_folds or initial < 1:
        needed = _rows_needed(n_folds, min_train_fraction)
        raise InsufficientDataError(
            f"expected at least {needed} rows for n_folds={n_folds} and "
            f"min_train_fraction={min_train_fraction}; received {n}"
        )
    folds = []
    for k, block in enumerate(np.array_split(np.arange(initial, n, dtype=np.int64), n_folds)):
        start = int(block[0])
        candidates = np.arange(max(start - gap, 0), dtype=np.int64)
        train = candidates[ends[candidates] < times[start]]
        if train.size == 0:
            raise InsufficientDataError(
                f"expected training rows before fold {k} (test from ts {int(times[start])}) "
                f"after the purge and an embargo of {gap} rows; received none of {start} "
                f"earlier rows (labels reach further than the initial training part)"
            )
        folds.append(
            Fold(
                train=train,
                test=block,
                index=k,
                purged=int(candidates.size - train.size),
                embargoed=min(gap, start),
            )
        )
    return folds


def _int_1d(name: str, values: ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidMlInputError(f"expected {name} one-dimensional; received shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidMlInputError(
            f"expected {name} as integer epoch times; received dtype {arr.dtype}"
        )
    return arr.astype(np.int64, copy=False)


def _check_order(times: IntArray, ends: IntArray) -> None:
    if times.size > 1 and not bool(np.all(times[1:] >= times[:-1])):
        at = int(np.flatnonzero(times[1:] < times[:-1])[0])
        raise InvalidMlInputError(
            f"expected ts in time order: at or after {int(times[at])} at row {at + 1}; "
            f"received {int(times[at + 1])}"
        )
    early = np.flatnonzero(ends < times)
    if early.size:
        row = int(early[0])
        raise InvalidMlInputError(
            f"expected label_end_ts >= ts (a label is known at or after its row); received "
            f"{int(ends[row])} < {int(times[row])} at row {row}"
        )


def _check_arguments(n_folds: int, min_train_fraction: float) -> None:
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 1:
        raise InvalidMlInputError(f"expected n_folds an int >= 1; received {n_folds!r}")
    if not 0.0 < float(min_train_fraction) < 1.0:
        raise InvalidMlInputError(
            f"expected 0 < min_train_fraction < 1; received {min_train_fraction!r}"
        )


def _embargo_rows(embargo: int | float, n: int) -> int:
    if isinstance(embargo, bool):
        raise InvalidMlInputError(
            f"expected embargo an int >= 0 or a float in [0, 1); received {embargo!r}"
        )
    if isinstance(embargo, (int, np.integer)):
        if embargo < 0:
            raise InvalidMlInputError(f"expected embargo rows >= 0; received {embargo}")
        return int(embargo)
    if isinstance(embargo, (float, np.floating)) and 0.0 <= embargo < 1.0:
        return math.ceil(float(embargo) * n)
    raise InvalidMlInputError(
        f"expected embargo an int >= 0 or a float in [0, 1); received {embargo!r}"
    )


def _rows_needed(n_folds: int, min_train_fraction: float) -> int:
    """The smallest row count leaving ``n_folds`` test rows after the initial training."""
    n = n_folds + 1
    while n - math.ceil(min_train_fraction * n) < n_folds:
        n += 1
    return n
