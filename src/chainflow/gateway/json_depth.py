"""How deeply a raw JSON document nests, measured without decoding it.

Python's JSON decoder and Pydantic recurse once per level, so a body of a few kilobytes of
brackets is enough to reach the interpreter's recursion limit. ``exceeds_json_depth`` answers
from the bytes alone, in C-speed passes (a regular expression and ``bytes`` methods), before
any decoder sees them.
"""

from __future__ import annotations

import re

# A JSON string literal: brackets inside one do not nest anything. The closing quote is
# optional so that every match succeeds: an unterminated string ends the document instead of
# making the engine retry from each later quote (quadratic on crafted input).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
# Keep only the brackets, with objects written as arrays: nesting is the same either way.
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def exceeds_json_depth(document: bytes, max_depth: int) -> bool:
    """Return whether ``document`` nests arrays and objects more than ``max_depth`` deep.

    Unbalanced brackets beyond ``max_depth`` of them count as too deep: such a document is
    invalid JSON, and refusing it costs the decoder nothing.
    """
    if document.count(b"[") + document.count(b"{") <= max_depth:
        return False
    brackets = _STRING.sub(b"", document).translate(_OBJECTS_AS_ARRAYS, _NOT_BRACKETS)
    # Each pass removes every innermost pair, so a document of depth d empties in d passes.
    for _ in range(max_depth):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    return bool(brackets)
