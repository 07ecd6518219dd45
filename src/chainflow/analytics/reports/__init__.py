"""Scheduled performance reports: a user's daily or weekly figures as an HTML e-mail with a
PDF attachment, sent through the notification hub (the runtime composes the two)."""
