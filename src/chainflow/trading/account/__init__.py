"""The simulated account's rules as scalar functions, shared by the backtest and paper trading.

``chainflow.trading.account.functions`` holds one definition of each rule (fill price,
commission, swap, stop-loss/take-profit exit, margin, P&L and the rounding at the
boundary). The backtest's compiled kernels call them from numba code; the paper account
calls the same functions as plain Python. Other services import them through
``chainflow.trading.api``.
"""
