"""The features service's errors, each with its wire code and HTTP status.

The indicator maths (``features.batch``, ``features.stream``), the matrix, the regimes and the
cross-asset features document ``ValueError`` for bad input and their callers catch it: the
errors they raise are also ``ValueError``s.
"""

from __future__ import annotations

from chainflow.core.errors import Conflict, InvalidInput


class InvalidFeatureInputError(InvalidInput, ValueError):
    """A value the feature maths cannot work with: a period or parameter out of its range,
    arrays of the wrong shape, prices that are not finite and positive, timestamps that do
    not increase, a feature-set definition that does not hold together.

    Also a ``ValueError``: the indicators document it and their callers catch it.
    """

    code = "feature_input_invalid"


class FeatureStateMismatchError(Conflict, ValueError):
    """A saved state (snapshot) restored into a calculator made with other parameters, another
    timeframe or other components: the state must be rebuilt from the bars.

    Also a ``ValueError``, which ``restore`` documents and its callers catch.
    """

    code = "feature_state_mismatch"
