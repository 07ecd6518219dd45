"""Live dashboards: a tenant's equity, positions, risk use and model accuracy, published at
most once per second per tenant (only when changed) for ``WS /ws/stream``."""
