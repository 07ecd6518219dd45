"""Live-vs-backtest drift: a strategy's live paper trades against its backtest on the stored
bars of the same period."""
