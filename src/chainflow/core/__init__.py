"""Service-free shared code: settings, clock, ids, errors, logging, domain types."""
