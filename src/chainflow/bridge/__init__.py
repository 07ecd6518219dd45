"""data-bridge: MT5 WebSocket ingestion, tick validation, per-tenant fan-out, usage metering."""
