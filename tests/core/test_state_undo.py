"""``StateRecord``: put an object graph back in place after it was mutated."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import pytest

from chainflow.core.state_undo import StatePlan, StateRecord


class Inner:
    def __init__(self) -> None:
        self.total = 0.0
        self.window: deque[float] = deque(maxlen=3)


class Outer:
    __slots__ = ("count", "inner", "items", "table", "values")

    def __init__(self) -> None:
        self.count = 0
        self.inner = Inner()
        self.items: list[Inner] = [Inner(), Inner()]
        self.table = {"a": 1.0}
        self.values = np.zeros(3)


def mutate(outer: Outer) -> None:
    outer.count += 1
    outer.inner.total += 2.5
    outer.inner.window.append(7.0)
    outer.items[1].window.append(1.0)
    outer.items.append(Inner())
    outer.table["b"] = 2.0
    outer.values[1] = 9.0


def assert_as_before(
    outer: Outer, window: deque[float], items: list[Inner], table: dict[str, float], values: Any
) -> None:
    """``outer`` holds what it held before ``mutate``, in the same container objects."""
    assert outer.count == 0 and outer.inner.total == 0.0
    assert list(outer.inner.window) == [1.0, 2.0, 3.0] and outer.inner.window is window
    assert len(outer.items) == 2 and outer.items is items
    assert list(outer.items[1].window) == []
    assert outer.table == {"a": 1.0} and outer.table is table
    assert outer.values.tolist() == [0.0, 0.0, 0.0] and outer.values is values


class TestStateRecord:
    def test_restore_puts_everything_back_into_the_same_containers(self) -> None:
        outer = Outer()
        outer.inner.window.extend([1.0, 2.0, 3.0])
        window, items, table, values = outer.inner.window, outer.items, outer.table, outer.values
        record = StateRecord([outer])
        mutate(outer)
        record.restore()
        assert_as_before(outer, window, items, table, values)

    def test_an_attribute_replaced_by_a_new_object_is_put_back(self) -> None:
        outer = Outer()
        original = outer.inner
        record = StateRecord([outer])
        outer.inner = Inner()
        record.restore()
        assert outer.inner is original


class Odd:
    """Attribute names the compiled restore cannot write as ``obj.name``."""

    def __init__(self) -> None:
        setattr(self, "class", 1.0)  # a keyword
        setattr(self, "__hidden", [1.0, 2.0])  # not mangled: set by name


class TestStatePlan:
    def test_restore_puts_back_what_record_saw_in_the_same_containers(self) -> None:
        outer = Outer()
        outer.inner.window.extend([1.0, 2.0, 3.0])
        window, items, table, values = outer.inner.window, outer.items, outer.table, outer.values
        plan = StatePlan([outer])
        saved = plan.record()
        assert saved is not None
        for _ in range(2):  # one record, restored after each of several mutations
            mutate(outer)
            plan.restore(saved)
            assert_as_before(outer, window, items, table, values)

    def test_names_that_are_keywords_or_dunders_are_restored(self) -> None:
        odd = Odd()
        hidden = getattr(odd, "__hidden")
        plan = StatePlan([odd])
        saved = plan.record()
        assert saved is not None
        setattr(odd, "class", 2.0)
        hidden.append(3.0)
        setattr(odd, "__hidden", [])
        plan.restore(saved)
        assert getattr(odd, "class") == 1.0
        assert getattr(odd, "__hidden") is hidden and hidden == [1.0, 2.0]

    def test_a_record_of_another_plan_is_refused(self) -> None:
        plan, other = StatePlan([Outer()]), StatePlan([Inner()])
        saved = other.record()
        assert saved is not None
        with pytest.raises(ValueError, match="another plan"):
            plan.restore(saved)

    def test_plans_of_one_shape_share_code_and_each_restores_its_own_objects(self) -> None:
        """The restore code is compiled once per graph shape (every pipeline of a feature
        set has the same one); each plan binds its own objects."""
        first, second = Outer(), Outer()
        first.inner.window.extend([1.0, 2.0, 3.0])
        window, items, table, values = first.inner.window, first.items, first.table, first.values
        plan_a, plan_b = StatePlan([first]), StatePlan([second])
        assert plan_a.restore.__code__ is plan_b.restore.__code__
        saved_a, saved_b = plan_a.record(), plan_b.record()
        assert saved_a is not None and saved_b is not None
        mutate(first)
        mutate(second)
        plan_a.restore(saved_a)
        assert_as_before(first, window, items, table, values)
        assert second.count == 1 and len(second.items) == 3  # untouched by the other plan
        plan_b.restore(saved_b)
        assert second.count == 0 and len(second.items) == 2
