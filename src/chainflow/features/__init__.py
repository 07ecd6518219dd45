"""feature-engineering: streaming and batch indicators, correlation, regimes, normalization."""
