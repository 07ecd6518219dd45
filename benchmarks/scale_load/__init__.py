"""Load of ``benchmarks/scale.py``: the scaled form (PostgreSQL, Redis, NATS) as MT5
terminals see it, in three topologies.

- ``topology``: one deployment (a fresh database, key prefix and stream), its
  ``chainflow serve`` processes split by ``--services``, its enterprise tenants;
- ``load``: the open-loop tick stream of every tenant's terminal and its figures (the
  terminal itself is ``tick_load.clients``);
- ``seed``: the promoted model and the tenants' stored history (so that the model scores
  every tick);
- ``signals``: the measured signals by kind (scored by the model, or a hold with a reason);
- ``faults``: the fault tests' figures, collected from a run of
  ``tests/e2e/test_scaled_faults.py``.
"""
