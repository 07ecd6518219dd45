"""Limit overrides: counts are whole numbers, the CPU share a finite number >= 0."""

from __future__ import annotations

import math

import pytest

from chainflow.users.errors import InvalidLimitOverridesError
from chainflow.users.service.admin import validated_overrides


def test_cpu_share_is_a_number_and_counts_stay_whole() -> None:
    assert validated_overrides({"cpu_share": 1, "ticks_per_second": 50}) == {
        "cpu_share": 1.0,
        "ticks_per_second": 50,
    }


@pytest.mark.parametrize("value", [-0.1, math.inf, math.nan, "0.5", True])
def test_a_bad_cpu_share_is_refused_with_the_reason(value: object) -> None:
    with pytest.raises(InvalidLimitOverridesError) as caught:
        validated_overrides({"cpu_share": value})
    assert caught.value.code == "invalid_limit_overrides"
    assert "cpu_share must be a finite number >= 0" in caught.value.message
