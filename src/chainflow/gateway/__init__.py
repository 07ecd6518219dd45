"""api-gateway: HTTP/WS entry, auth, per-tier rate limits, routing, response aggregation."""
