"""trading-engine: decision synthesis, signals, execution planning, paper portfolio, attribution."""
