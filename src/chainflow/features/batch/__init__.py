"""Vectorized indicators on NumPy arrays, named as in TA-Lib in lower case; warm-up is NaN."""
