"""The model registry: versions and their stage, artifacts, the promotion gate, and the
per-tenant record of live fallbacks."""
