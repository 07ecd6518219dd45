"""Which partition a key falls in, and which live member owns which partition.

``partition_of`` hashes the escaped key tokens with BLAKE2b (stable across processes and
Python versions, unlike ``hash``) modulo the partition count. ``assign`` is rendezvous
(highest-random-weight) hashing with bounded loads: each partition, in order, goes to the
member of highest weight ``blake2b(member, partition)`` that holds fewer than
``ceil(N / members)`` partitions. Every member computes the same table from the same member
set, with no coordination; plain rendezvous moves only the partitions the joining (or
leaving) member wins (or held), and the load bound keeps two replicas at 8/8 of 16
partitions where plain rendezvous can deal 11/5. Measured in
``tests/hub/test_partitions.py``: a join or a leave moves about ``N / members`` partitions,
never all of them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping


def partition_of(*tokens: str, partitions: int) -> int:
    """Return the partition (``0 <= k < partitions``) of the key made of ``tokens``."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1; received {partitions}")
    digest = hashlib.blake2b("\x1f".join(tokens).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def partition_token(partition: int) -> str:
    """Return the subject token of ``partition`` (``p<k>``)."""
    return f"p{partition}"


def _weight(member: str, partition: int) -> int:
    digest = hashlib.blake2b(f"{member}\x1f{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(partitions: int, members: Iterable[str]) -> Mapping[str, frozenset[int]]:
    """Return each member's partitions; every partition has exactly one member.

    Deterministic in the member *set* (order and duplicates do not matter).
    """
    unique = sorted(set(members))
    if not unique:
        return {}
    cap = math.ceil(partitions / len(unique))
    load: dict[str, list[int]] = {member: [] for member in unique}
    for partition in range(partitions):
        ranked = sorted(unique, key=lambda m: _weight(m, partition), reverse=True)
        owner = next(m for m in ranked if len(load[m]) < cap)
        load[owner].append(partition)
    return {member: frozenset(owned) for member, owned in load.items()}
