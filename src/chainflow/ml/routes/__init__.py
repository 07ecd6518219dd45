"""The ml service's HTTP routes: ``/api/v1/models`` (the registry as a tenant sees it, model
cards, live performance) and ``/api/v1/patterns/similar``, with their wire models."""
