"""backtesting-engine: simulation, metrics, optimization, walk-forward."""
