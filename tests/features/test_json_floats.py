"""Strict-JSON snapshots: NaN and infinities tagged by ``encode_floats``, back by
``decode_floats`` (what every pipeline restore from a worker's snapshot runs through)."""

from __future__ import annotations

import json
import math

from chainflow.features.json_floats import decode_floats, encode_floats


def test_non_finite_floats_anywhere_survive_a_strict_json_round_trip() -> None:
    state = {
        "window": [1.0, math.nan, 2.5, math.inf],
        "nested": {"deep": [[-math.inf, 3], {"x": math.nan}]},
        "count": 7,
        "label": "ema",
        "none": None,
        "flat": [1.0, 2, True, None, "s"],
    }
    text = json.dumps(encode_floats(state), allow_nan=False)  # strict: no NaN literal
    back = decode_floats(json.loads(text))
    assert back["window"][0] == 1.0 and math.isnan(back["window"][1])
    assert back["window"][2:] == [2.5, math.inf]
    assert back["nested"]["deep"][0] == [-math.inf, 3]
    assert math.isnan(back["nested"]["deep"][1]["x"])
    assert (back["count"], back["label"], back["none"]) == (7, "ema", None)
    assert back["flat"] == [1.0, 2, True, None, "s"]


def test_a_window_of_plain_numbers_comes_back_as_a_copy() -> None:
    """The fast path for a list with nothing to decode still returns a new list: a
    component restored from it never shares it with the snapshot."""
    window = [float(i) for i in range(500)]
    decoded = decode_floats({"values": window})["values"]
    assert decoded == window and decoded is not window
