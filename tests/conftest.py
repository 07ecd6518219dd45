"""Test configuration: fixture plugins and the backend matrix.

With ``CI=true`` a backend that should be there and is down fails the test; locally it is
skipped with the reason.
"""

import os

# OpenMP worker threads (LightGBM, XGBoost, PyTorch) spin while waiting by default; with two
# test workers on two cores that spinning starves the other worker (20-100x slowdowns seen).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

pytest_plugins = ["tests.fixtures.backends", "tests.fixtures.database"]
