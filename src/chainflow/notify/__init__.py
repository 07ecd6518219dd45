"""notification-hub: channels, templates, preferences, delivery outbox."""
