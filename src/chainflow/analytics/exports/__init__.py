"""CSV and Parquet exports of a tenant's trades, signals, bars and predictions, streamed in
batches (``GET /api/v1/analytics/exports/{dataset}``)."""
