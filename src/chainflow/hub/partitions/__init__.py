"""Partitioned streaming: keyed subjects spread over N partitions, owned by live replicas.

A publisher puts a partition token (``p<k>``, ``k = partition_of(key, N)``) in a keyed
subject; each replica of a stateful service runs a ``PartitionOwner`` that computes its
share of the N partitions from the registry's live members (``assignment``), takes an
exclusive lease per partition (``leases``) and consumes each owned partition with its own
durable consumer (``owner``). Public names are exported by ``chainflow.hub.api``.
"""
