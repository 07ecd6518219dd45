"""Test configuration: fixture plugins and the backend matrix.

With ``CI=true`` a backend that should be there and is down fails the test; locally it is
skipped with the reason.
"""

pytest_plugins = ["tests.fixtures.backends", "tests.fixtures.database"]
