"""The analytics service: trading analytics per tenant on rollups, and platform figures."""
