"""The features' refusals are typed errors of its ``errors.py`` that stay ``ValueError``s,
as the maths packages document."""

from __future__ import annotations

import numpy as np
import pytest

from chainflow.core.errors import Conflict, InvalidInput, MalformedEventError
from chainflow.features.batch.averages import sma
from chainflow.features.errors import FeatureStateMismatchError, InvalidFeatureInputError
from chainflow.features.events import FeaturesComputed
from chainflow.features.stream.trend import ADX


class TestInputErrors:
    def test_a_bad_period_is_invalid_input_and_a_value_error(self) -> None:
        with pytest.raises(InvalidFeatureInputError) as caught:
            sma(np.ones(10), 0)

        error = caught.value
        assert isinstance(error, InvalidInput) and isinstance(error, ValueError)
        assert (error.code, error.status) == ("feature_input_invalid", 422)
        assert error.message == "expected n to be an integer >= 2; received 0"

    def test_callers_catching_value_error_still_catch_it(self) -> None:
        with pytest.raises(ValueError, match="expected a period >= 2"):
            ADX(1)


class TestStateErrors:
    def test_a_snapshot_of_other_params_is_a_conflict_and_a_value_error(self) -> None:
        snapshot = ADX(14).snapshot()

        with pytest.raises(FeatureStateMismatchError) as caught:
            ADX(10).restore(snapshot)

        error = caught.value
        assert isinstance(error, Conflict) and isinstance(error, ValueError)
        assert (error.code, error.status) == ("feature_state_mismatch", 409)


class TestEvents:
    def test_a_malformed_vector_is_a_malformed_event(self) -> None:
        with pytest.raises(MalformedEventError, match="expected a feature vector"):
            FeaturesComputed.from_json(b"{}")
