"""user-management: tenants, users, roles, subscriptions, sessions, API keys, billing."""
