"""Parameter search spaces for optimization: explicit value lists and stepped ranges.

A space maps each strategy parameter to a dimension:

- ``Choice(values)`` — the listed values (``--grid fast=5,10,20``);
- ``Range(low, high, step)`` — ``low`` to ``high`` *inclusive* (``--range slow=20:60:10``).
  Integer bounds and step give integers; ``step=None`` is continuous (random and Bayesian
  search only: a grid needs a step).

Grid search walks the Cartesian product in the order the dimensions were given (the last
one varies fastest); random search draws each dimension independently from a seeded NumPy
generator; Bayesian search asks Optuna with the matching ``suggest_*`` call.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from chainflow.backtest.errors import InvalidBacktestInputError

ParamValue = int | float | str | bool
MAX_GRID_POINTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Choice:
    """A dimension taking one of ``values`` (in the given order)."""

    values: tuple[ParamValue, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise InvalidBacktestInputError(
                "expected at least one value in a choice; received none"
            )

    def grid_values(self) -> tuple[ParamValue, ...]:
        """Return the values a grid visits."""
        return self.values

    def count(self) -> int:
        """Return how many values a grid visits."""
        return len(self.values)

    def sample(self, rng: np.random.Generator) -> ParamValue:
        """Draw one value uniformly."""
        return self.values[int(rng.integers(len(self.values)))]


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric dimension from ``low`` to ``high`` inclusive, every ``step`` (or continuous)."""

    low: float
    high: float
    step: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high < self.low:
            raise InvalidBacktestInputError(
                f"expected a range with finite low <= high; received {self.low}:{self.high}"
            )
        if self.step is not None and not (math.isfinite(self.step) and self.step > 0):
            raise InvalidBacktestInputError(f"expected a positive range step; received {self.step}")

    @property
    def is_integer(self) -> bool:
        """Return whether the range holds only integers (integer bounds and step)."""
        parts = (self.low, self.high, 1 if self.step is None else self.step)
        return self.step is not None and all(float(p).is_integer() for p in parts)

    def count(self) -> int:
        """Return how many values a grid visits (without listing them); raise without a step."""
        if self.step is None:
            raise InvalidBacktestInputError(
                f"expected a step to walk the range {self.low}:{self.high} on a grid; "
                "received none (write low:high:step)"
            )
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def grid_values(self) -> tuple[ParamValue, ...]:
        """Return ``low, low + step, ...`` up to ``high``; raise without a step."""
        count = self.count()
        step = float(self.step or 0.0)
        values = [self.low + i * step for i in range(count)]
        if self.is_integer:
            return tuple(int(round(v)) for v in values)
        return tuple(round(v, 12) for v in values)

    def sample(self, rng: np.random.Generator) -> ParamValue:
        """Draw one value uniformly (on the step lattice when there is a step)."""
        if self.step is None:
            return float(rng.uniform(self.low, self.high))
        values = self.grid_values()
        return values[int(rng.integers(len(values)))]


Dimension = Choice | Range
SearchSpace = Mapping[str, Dimension]


def grid_size(space: SearchSpace) -> int:
    """Return the number of grid points of ``space`` (without listing them)."""
    return math.prod(d.count() for d in space.values())


def grid_points(space: SearchSpace) -> Iterator[dict[str, ParamValue]]:
    """Yield every combination of ``space`` (the last dimension varies fastest)."""
    _check_grid_size(space)
    names = list(space)
    for combo in itertools.product(*(space[n].grid_values() for n in names)):
        yield dict(zip(names, combo, strict=True))


class GridPoints(Sequence[dict[str, ParamValue]]):
    """Every combination of ``space`` in ``grid_points`` order, built on demand from its
    index (a million-point grid costs its dimensions' values, not a million dicts)."""

    def __init__(self, space: SearchSpace) -> None:
        self._size = _check_grid_size(space)
        self._names = list(space)
        self._values = [space[n].grid_values() for n in self._names]

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> dict[str, ParamValue]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, ParamValue]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> dict[str, ParamValue] | list[dict[str, ParamValue]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if not -self._size <= index < self._size:
            raise IndexError(f"expected a grid index below {self._size}; received {index}")
        rest = index % self._size
        picked: list[ParamValue] = []
        for values in reversed(self._values):
            rest, position = divmod(rest, len(values))
            picked.append(values[position])
        return dict(zip(self._names, reversed(picked), strict=True))


def _check_grid_size(space: SearchSpace) -> int:
    size = grid_size(space)
    if size > MAX_GRID_POINTS:
        raise InvalidBacktestInputError(
            f"expected a grid of at most {MAX_GRID_POINTS} combinations; received {size} "
            "(use --method random or bayes with --trials)"
        )
    return size


def random_points(space: SearchSpace, trials: int, seed: int) -> list[dict[str, ParamValue]]:
    """Return ``trials`` combinations drawn independently with a seeded generator.

    A finite space no larger than ``trials`` is returned whole (the grid); a larger finite
    one gives distinct draws (sampling without replacement); a continuous one independent
    draws.
    """
    if trials < 1:
        raise InvalidBacktestInputError(f"expected at least 1 trial; received {trials}")
    rng = np.random.default_rng(seed)
    if all(isinstance(d, Choice) or d.step is not None for d in space.values()):
        size = grid_size(space)
        if size <= trials:
            return list(grid_points(space))
        if size <= MAX_GRID_POINTS:
            every = list(grid_points(space))
            picked = rng.choice(size, size=trials, replace=False)
            return [every[int(i)] for i in picked]
    return [{name: dim.sample(rng) for name, dim in space.items()} for _ in range(trials)]


def suggest(trial: Any, space: SearchSpace) -> dict[str, ParamValue]:
    """Ask an Optuna ``trial`` for one combination of ``space``."""
    params: dict[str, ParamValue] = {}
    for name, dim in space.items():
        if isinstance(dim, Choice):
            params[name] = trial.suggest_categorical(name, list(dim.values))
        elif dim.is_integer:
            step = int(dim.step or 1)
            high = int(dim.low) + (int(dim.high) - int(dim.low)) // step * step
            params[name] = trial.suggest_int(name, int(dim.low), high, step=step)
        elif dim.step is not None:
            values = dim.grid_values()
            params[name] = trial.suggest_float(name, dim.low, float(values[-1]), step=dim.step)
        else:
            params[name] = trial.suggest_float(name, dim.low, dim.high)
    return params


# --- parsing the command line ---------------------------------------------------------------


def parse_value(text: str) -> ParamValue:
    """Return ``text`` as an int, a float, a bool (true/false) or the string itself."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return stripped


def parse_grid(spec: str) -> tuple[str, Choice]:
    """Parse ``name=v1,v2,...`` into a choice dimension."""
    name, values = _split(spec, "name=v1,v2,...")
    items = [v for v in values.split(",") if v.strip()]
    if not items:
        raise InvalidBacktestInputError(
            f"expected name=v1,v2,... with at least one value; received {spec!r}"
        )
    return name, Choice(tuple(parse_value(v) for v in items))


def parse_range(spec: str) -> tuple[str, Range]:
    """Parse ``name=low:high[:step]`` into a range dimension."""
    name, values = _split(spec, "name=low:high[:step]")
    parts = values.split(":")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3):
        raise InvalidBacktestInputError(
            f"expected name=low:high[:step] with numbers; received {spec!r}"
        )
    return name, Range(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None)


def build_space(
    grid: list[str] | None = None, ranges: list[str] | None = None
) -> dict[str, Dimension]:
    """Build a space from ``--grid`` and ``--range`` options (a name given twice fails)."""
    space: dict[str, Dimension] = {}
    named: list[tuple[str, Dimension]] = [
        *(parse_grid(g) for g in grid or ()),
        *(parse_range(r) for r in ranges or ()),
    ]
    for name, dim in named:
        if name in space:
            raise InvalidBacktestInputError(
                f"expected each parameter once in --grid/--range; received {name!r} twice"
            )
        space[name] = dim
    if not space:
        raise InvalidBacktestInputError(
            "expected at least one --grid name=v1,v2 or --range name=lo:hi:step"
        )
    return space


def describe_space(space: SearchSpace) -> dict[str, Any]:
    """Return ``space`` as JSON-friendly data."""
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if isinstance(dim, Choice):
            out[name] = {"values": list(dim.values)}
        else:
            out[name] = {"low": dim.low, "high": dim.high, "step": dim.step}
    return out


def _split(spec: str, shape: str) -> tuple[str, str]:
    name, sep, values = spec.partition("=")
    if not sep or not name.strip():
        raise InvalidBacktestInputError(f"expected {shape}; received {spec!r}")
    return name.strip(), values.strip()
