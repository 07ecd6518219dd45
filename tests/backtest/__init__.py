"""Tests of the backtesting engine."""
