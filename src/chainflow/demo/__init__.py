"""The demo and the sample market: ``chainflow demo`` and ``chainflow sample-data``.

Above the layers, beside ``chainflow.runtime`` and ``chainflow.cli``: it may import any
service's ``api`` and the runtime (the demo runs a whole server in its process), and
nothing in the services imports it (the import contracts check both). What a service needs
of it is handed in: ``chainflow demo`` passes ``model_bars.default_model_bars`` to
``ml.api.ensure_default_model``, which trains the first model on them.

- ``sample_market``, ``sample_data``, ``sample_files``: the deterministic synthetic FX
  market, its config and the ``sample-data`` command, and the MT5/CSV file writers;
- ``market``, ``server``, ``replay``, ``view``, ``command``: ``chainflow demo`` (the market
  it plays, the in-process server, the tick replay, the live table, the command itself);
- ``model_bars``: the sample bars the platform model ``fx-default`` trains on.
"""
