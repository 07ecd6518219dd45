"""Load scenarios of ``benchmarks/tick_to_signal.py``: the hot path as many MT5 terminals see it.

- ``server``: the server child process (``DemoServer``) with the tenants, API keys and stored
  history a scenario's layout asks for;
- ``clients``: one WebSocket terminal (several symbols, a tick clock, open-loop schedule) and
  what it measures per tick;
- ``report``: percentiles, the per-second series and the SVG plot;
- ``scenarios``: steady, aligned and cold; ``noisy``: the noisy-neighbour scenario.
"""
