"""The ml commands the CLI registers at start-up: ``chainflow models`` and ``chainflow train``.

Nothing is imported here: the CLI imports ``models`` and ``train`` directly, and each loads
the heavy parts only when its command runs."""
