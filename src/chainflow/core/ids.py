"""Typed identifiers and time-ordered id generation."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import NewType

TenantId = NewType("TenantId", str)
UserId = NewType("UserId", str)
InstanceId = NewType("InstanceId", str)
RequestId = NewType("RequestId", str)

_COUNTER_BITS = 12
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """Return a new UUIDv7 (RFC 9562) as a 32-char hex string.

    Ids are unique and, within one process, strictly increasing: ids made in the same
    millisecond carry a 12-bit counter in ``rand_a`` (RFC 9562 section 6.2, method 1),
    so ordering by id is ordering by creation (keyset pagination relies on it).
    """
    global _last_ms, _counter
    with _lock:
        unix_ms = time.time_ns() // 1_000_000
        if unix_ms > _last_ms:
            _last_ms, _counter = unix_ms, int.from_bytes(os.urandom(1), "big")
        elif _counter < _COUNTER_MAX:
            _counter += 1
        else:  # more than ~4000 ids in one millisecond: borrow the next one
            _last_ms, _counter = _last_ms + 1, 0
        ms, counter = _last_ms, _counter
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64  # rand_a as a monotonic counter
    value |= 0b10 << 62  # variant
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)  # rand_b
    return uuid.UUID(int=value).hex
