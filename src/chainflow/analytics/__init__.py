"""analytics-service: trading and business analytics, dashboards, reports, exports."""
