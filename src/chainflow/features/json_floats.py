"""Strict JSON for snapshots: NaN and infinities as ``{"$float": "nan"}`` and back."""

from __future__ import annotations

import math
from typing import Any

_FLOAT_TAG = "$float"
_ATOMS = frozenset({float, int, str, bool, type(None)})


def encode_floats(value: Any) -> Any:
    """Replace NaN and infinities (anywhere in dicts and lists) by ``{"$float": "nan"}``."""
    if isinstance(value, float) and not math.isfinite(value):
        return {_FLOAT_TAG: repr(value)}
    if isinstance(value, dict):
        return {k: encode_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_floats(v) for v in value]
    return value


def decode_floats(value: Any) -> Any:
    """Inverse of ``encode_floats``."""
    if isinstance(value, dict):
        if len(value) == 1 and _FLOAT_TAG in value:
            return float(value[_FLOAT_TAG])
        return {k: decode_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        if _ATOMS.issuperset(map(type, value)):
            return list(value)  # a window of numbers (most of a snapshot): nothing to decode
        return [decode_floats(v) for v in value]
    return value
