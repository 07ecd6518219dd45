"""Patterns on bars: candlesticks, chart patterns, anomalies and similarity search."""
