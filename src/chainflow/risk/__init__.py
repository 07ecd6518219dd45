"""risk-management: VaR and stress, position sizing, limits, stop-loss and drawdown guards."""
