"""central-hub: event bus, service registry and discovery, config distribution, health."""
