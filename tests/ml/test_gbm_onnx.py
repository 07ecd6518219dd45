"""Gradient boosting: training, ONNX export, ONNX Runtime serving parity, GARCH volatility.

Parity tolerances (float32 input to both the native model and ONNX Runtime). Measured max
absolute differences on 5,000 rows x 33 features, models of 200 trees:

- classifier probabilities: XGBoost 1.8e-7, LightGBM 3.9e-7 -> asserted with atol 1e-5;
- regressor outputs (targets of order 1): XGBoost 3.8e-6, LightGBM 2.8e-6 -> atol 2e-5.

The differences are float32 rounding in the sums of leaf values; the splits agree exactly
because the trainers fit on float32-cast features and ONNX stores float32 thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost
from numpy.typing import NDArray

from chainflow.core.errors import InvalidInput
from chainflow.ml.errors import FeatureShapeError, InvalidModelError
from chainflow.ml.training.gbm import (
    DOWN,
    FLAT,
    UP,
    train_lightgbm_classifier,
    train_lightgbm_regressor,
    train_xgboost_classifier,
    train_xgboost_regressor,
)
from chainflow.ml.training.onnx_export import classifier_to_onnx, regressor_to_onnx
from chainflow.ml.training.onnx_model import OnnxModel
from chainflow.ml.training.volatility_forecast import (
    evaluate_volatility_forecast,
    garch_forecast,
    log_returns,
    realized_volatility,
    rolling_garch_forecast,
)

N_FEATURES = 33
N_TRAIN = 4000
N_TEST = 2000
PROBABILITY_ATOL = 1e-5
REGRESSION_ATOL = 2e-5

CLASSIFIER_TRAINERS = {
    "xgboost": train_xgboost_classifier,
    "lightgbm": train_lightgbm_classifier,
}
REGRESSOR_TRAINERS = {
    "xgboost": train_xgboost_regressor,
    "lightgbm": train_lightgbm_regressor,
}


def make_classification_data(
    n_rows: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Labels follow a noisy score of features 0 and 1; the other 31 features are noise."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_rows, N_FEATURES))
    score = features[:, 0] + 0.5 * features[:, 1] + rng.standard_normal(n_rows)
    labels = np.where(score > 0.6, UP, np.where(score < -0.6, DOWN, FLAT)).astype(np.int64)
    return features, labels


def make_regression_data(n_rows: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_rows, N_FEATURES))
    targets = np.abs(features[:, 2]) + 0.3 * features[:, 3] + 0.5 * rng.standard_normal(n_rows)
    return features, targets


@pytest.fixture(scope="module")
def classification_data() -> dict[str, Any]:
    train_x, train_y = make_classification_data(N_TRAIN, seed=1)
    test_x, test_y = make_classification_data(N_TEST, seed=2)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


@pytest.fixture(scope="module")
def regression_data() -> dict[str, Any]:
    train_x, train_y = make_regression_data(N_TRAIN, seed=3)
    test_x, test_y = make_regression_data(N_TEST, seed=4)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


@pytest.fixture(scope="module")
def classifiers(classification_data: dict[str, Any]) -> dict[str, Any]:
    return {
        name: train(classification_data["train_x"], classification_data["train_y"])
        for name, train in CLASSIFIER_TRAINERS.items()
    }


@pytest.fixture(scope="module")
def regressors(regression_data: dict[str, Any]) -> dict[str, Any]:
    return {
        name: train(regression_data["train_x"], regression_data["train_y"])
        for name, train in REGRESSOR_TRAINERS.items()
    }


@pytest.fixture(scope="module")
def classifier_onnx(classifiers: dict[str, Any]) -> dict[str, bytes]:
    return {
        name: classifier_to_onnx(model, N_FEATURES, metadata={"feature_set": "core-33"})
        for name, model in classifiers.items()
    }


class TestGradientBoostingTraining:
    @pytest.mark.parametrize("library", sorted(CLASSIFIER_TRAINERS))
    def test_classifier_beats_majority_share_out_of_sample(
        self, library: str, classifiers: dict[str, Any], classification_data: dict[str, Any]
    ) -> None:
        test_y = classification_data["test_y"]
        majority_share = np.bincount(test_y, minlength=3).max() / len(test_y)
        predicted = classifiers[library].predict(classification_data["test_x"])
        accuracy = float(np.mean(predicted == test_y))
        assert accuracy > majority_share + 0.05, (accuracy, majority_share)

    @pytest.mark.parametrize("library", sorted(REGRESSOR_TRAINERS))
    def test_regressor_explains_variance_out_of_sample(
        self, library: str, regressors: dict[str, Any], regression_data: dict[str, Any]
    ) -> None:
        test_y = regression_data["test_y"]
        predicted = regressors[library].predict(regression_data["test_x"])
        r_squared = 1.0 - np.mean((predicted - test_y) ** 2) / np.var(test_y)
        assert r_squared > 0.3, r_squared

    @pytest.mark.parametrize("library", sorted(CLASSIFIER_TRAINERS))
    def test_same_seed_gives_identical_model(
        self, library: str, classification_data: dict[str, Any]
    ) -> None:
        train = CLASSIFIER_TRAINERS[library]
        x, y = classification_data["train_x"][:1000], classification_data["train_y"][:1000]
        params = {"n_estimators": 30}
        first = train(x, y, params=params, seed=7).predict_proba(x)
        second = train(x, y, params=params, seed=7).predict_proba(x)
        np.testing.assert_array_equal(first, second)

    @pytest.mark.parametrize("library", sorted(CLASSIFIER_TRAINERS))
    def test_rejects_labels_outside_down_flat_up(
        self, library: str, classification_data: dict[str, Any]
    ) -> None:
        labels = classification_data["train_y"].copy()
        labels[0] = 3
        with pytest.raises(InvalidInput, match="expected labels in"):
            CLASSIFIER_TRAINERS[library](classification_data["train_x"], labels)

    def test_rejects_mismatched_label_length(self, classification_data: dict[str, Any]) -> None:
        with pytest.raises(InvalidInput, match=r"expected labels of shape \(4000,\)"):
            train_xgboost_classifier(
                classification_data["train_x"], classification_data["train_y"][:-1]
            )


class TestMissingClass:
    @pytest.mark.parametrize("library", sorted(CLASSIFIER_TRAINERS))
    @pytest.mark.parametrize("missing", [DOWN, UP])
    def test_fold_missing_a_class_still_outputs_three_columns(
        self, library: str, missing: int, classification_data: dict[str, Any]
    ) -> None:
        keep = classification_data["train_y"] != missing
        model = CLASSIFIER_TRAINERS[library](
            classification_data["train_x"][keep],
            classification_data["train_y"][keep],
            params={"n_estimators": 60},
        )
        test_x = classification_data["test_x"].astype(np.float32)
        native = model.predict_proba(test_x)
        served = OnnxModel(classifier_to_onnx(model, N_FEATURES)).predict(test_x)
        assert native.shape == served.shape == (N_TEST, 3)
        assert served[:, missing].max() < 1e-3
        np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(served, native, atol=PROBABILITY_ATOL, rtol=0)


class TestOnnxParity:
    @pytest.mark.parametrize("library", sorted(CLASSIFIER_TRAINERS))
    def test_classifier_probabilities_match_native(
        self,
        library: str,
        classifiers: dict[str, Any],
        classifier_onnx: dict[str, bytes],
        classification_data: dict[str, Any],
    ) -> None:
        test_x = classification_data["test_x"].astype(np.float32)
        served = OnnxModel(classifier_onnx[library]).predict(test_x)
        native = classifiers[library].predict_proba(test_x)
        assert served.shape == (N_TEST, 3)
        assert served.dtype == np.float32
        np.testing.assert_allclose(served, native, atol=PROBABILITY_ATOL, rtol=0)

    @pytest.mark.parametrize("library", sorted(REGRESSOR_TRAINERS))
    def test_regressor_predictions_match_native(
        self, library: str, regressors: dict[str, Any], regression_data: dict[str, Any]
    ) -> None:
        test_x = regression_data["test_x"].astype(np.float32)
        served = OnnxModel(regressor_to_onnx(regressors[library], N_FEATURES)).predict(test_x)
        native = regressors[library].predict(test_x)
        assert served.shape == (N_TEST,)
        np.testing.assert_allclose(served, native, atol=REGRESSION_ATOL, rtol=0)

    @pytest.mark.parametrize("library", sorted(CLASSIFIER_TRAINERS))
    def test_missing_feature_values_route_like_native(
        self,
        library: str,
        classifiers: dict[str, Any],
        classifier_onnx: dict[str, bytes],
        classification_data: dict[str, Any],
    ) -> None:
        test_x = classification_data["test_x"].astype(np.float32)
        test_x[np.random.default_rng(9).random(test_x.shape) < 0.2] = np.nan
        served = OnnxModel(classifier_onnx[library]).predict(test_x)
        native = classifiers[library].predict_proba(test_x)
        np.testing.assert_allclose(served, native, atol=PROBABILITY_ATOL, rtol=0)

    def test_batch_equals_row_by_row(
        self, classifier_onnx: dict[str, bytes], classification_data: dict[str, Any]
    ) -> None:
        model = OnnxModel(classifier_onnx["lightgbm"])
        batch = classification_data["test_x"][:50]
        rows = np.stack([model.predict_one(row) for row in batch])
        np.testing.assert_array_equal(model.predict(batch), rows)

    def test_xgboost_trained_with_named_columns_exports(
        self, classification_data: dict[str, Any]
    ) -> None:
        columns = [f"feature_{i}" for i in range(N_FEATURES)]
        frame = pd.DataFrame(classification_data["train_x"][:1000], columns=columns)
        model = xgboost.XGBClassifier(n_estimators=20, max_depth=3)
        model.fit(frame, classification_data["train_y"][:1000])
        onnx_bytes = classifier_to_onnx(model, N_FEATURES)
        test_x = classification_data["test_x"].astype(np.float32)
        native = model.predict_proba(pd.DataFrame(test_x, columns=columns))
        np.testing.assert_allclose(OnnxModel(onnx_bytes).predict(test_x), native, atol=1e-5)
        assert model.get_booster().feature_names == columns


class TestExport:
    def test_exported_graph_has_the_serving_contract(
        self, classifier_onnx: dict[str, bytes]
    ) -> None:
        for onnx_bytes in classifier_onnx.values():
            model = OnnxModel(onnx_bytes)
            assert model.input_name == "features"
            assert model.n_features == N_FEATURES
            assert model.outputs == ("probabilities",)

    @pytest.mark.parametrize("library", sorted(CLASSIFIER_TRAINERS))
    def test_metadata_round_trips(self, library: str, classifier_onnx: dict[str, bytes]) -> None:
        metadata = OnnxModel(classifier_onnx[library]).metadata
        assert metadata["feature_set"] == "core-33"
        assert metadata["library"] == library
        assert metadata["model_kind"] == "classifier"
        assert metadata["n_features"] == str(N_FEATURES)
        assert metadata["class_labels"] == "DOWN=0,FLAT=1,UP=2"

    def test_regressor_metadata_round_trips(self, regressors: dict[str, Any]) -> None:
        fingerprint = {"feature_set": "core-33", "fingerprint": "sha256:abc123"}
        model = OnnxModel(
            regressor_to_onnx(regressors["xgboost"], N_FEATURES, metadata=fingerprint)
        )
        assert model.outputs == ("prediction",)
        assert model.metadata["fingerprint"] == "sha256:abc123"
        assert model.metadata["model_kind"] == "regressor"

    def test_rejects_reserved_metadata_key(self, classifiers: dict[str, Any]) -> None:
        with pytest.raises(InvalidInput, match="received 'n_features'"):
            classifier_to_onnx(classifiers["xgboost"], N_FEATURES, metadata={"n_features": "5"})

    def test_rejects_wrong_feature_count(self, classifiers: dict[str, Any]) -> None:
        with pytest.raises(InvalidInput, match="expected n_features=33"):
            classifier_to_onnx(classifiers["lightgbm"], 20)

    def test_rejects_regressor_as_classifier(self, regressors: dict[str, Any]) -> None:
        with pytest.raises(InvalidInput, match="received XGBRegressor"):
            classifier_to_onnx(regressors["xgboost"], N_FEATURES)


class TestOnnxModel:
    def test_wrong_width_names_expected_and_received(
        self, classifier_onnx: dict[str, bytes]
    ) -> None:
        model = OnnxModel(classifier_onnx["xgboost"])
        with pytest.raises(FeatureShapeError) as caught:
            model.predict(np.zeros((4, 20)))
        assert str(caught.value) == "expected (n, 33) features; received (n, 20)"
        assert caught.value.code == "feature_shape_mismatch"
        assert caught.value.status == 422

    def test_one_dimensional_batch_is_rejected(self, classifier_onnx: dict[str, bytes]) -> None:
        model = OnnxModel(classifier_onnx["xgboost"])
        with pytest.raises(FeatureShapeError, match=r"received shape \(33,\)"):
            model.predict(np.zeros(N_FEATURES))

    def test_predict_one_returns_a_probability_vector(
        self, classifier_onnx: dict[str, bytes], classification_data: dict[str, Any]
    ) -> None:
        probabilities = OnnxModel(classifier_onnx["xgboost"]).predict_one(
            classification_data["test_x"][0]
        )
        assert isinstance(probabilities, np.ndarray)
        assert probabilities.shape == (3,)
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)

    def test_predict_one_returns_a_float_for_a_regressor(self, regressors: dict[str, Any]) -> None:
        model = OnnxModel(regressor_to_onnx(regressors["lightgbm"], N_FEATURES), threads=2)
        assert isinstance(model.predict_one(np.zeros(N_FEATURES)), float)

    def test_invalid_bytes_are_rejected(self) -> None:
        with pytest.raises(InvalidModelError, match="expected ONNX model bytes"):
            OnnxModel(b"not an onnx model")


def simulate_garch_returns(
    n_returns: int, seed: int, *, omega: float = 0.02, alpha: float = 0.08, beta: float = 0.9
) -> NDArray[np.float64]:
    """Simulate GARCH(1,1) log returns, scaled to about 0.1 % per bar like intraday FX."""
    rng = np.random.default_rng(seed)
    returns = np.empty(n_returns)
    variance = omega / (1.0 - alpha - beta)
    previous = 0.0
    for t in range(n_returns):
        variance = omega + alpha * previous**2 + beta * variance
        previous = np.sqrt(variance) * rng.standard_normal()
        returns[t] = previous
    return returns * 1e-3


def close_from_returns(returns: NDArray[np.float64]) -> NDArray[np.float64]:
    return 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))


class TestVolatilityForecast:
    def test_forecast_is_finite_positive_and_in_return_units(self) -> None:
        returns = simulate_garch_returns(1500, seed=0)
        forecast = garch_forecast(returns[:1000], horizon=10)
        assert np.isfinite(forecast)
        # Unconditional per-bar vol of the simulation is sqrt(0.02 / 0.02) * 1e-3 = 1e-3.
        assert 3e-4 < forecast < 3e-3

    # Measured GARCH/naive MAE ratios with these settings: seed 0 -> 0.91, seed 1 -> 0.92
    # (seeds 0-4 range 0.83-1.02). The 1.05 bound therefore holds with margin on these seeds;
    # on a single unlucky seed GARCH can be roughly level with the naive forecast.
    @pytest.mark.parametrize("seed", [0, 1])
    def test_garch_is_not_worse_than_naive_on_a_garch_series(self, seed: int) -> None:
        close = close_from_returns(simulate_garch_returns(3000, seed=seed))
        evaluation = evaluate_volatility_forecast(
            close, horizon=10, train_fraction=0.5, refit_every=50
        )
        assert evaluation.n_forecasts == 3000 - 1500 - 10 + 1
        values = [evaluation.garch_mae, evaluation.naive_mae, evaluation.garch_rmse]
        assert all(np.isfinite(value) and value > 0 for value in values)
        assert evaluation.garch_mae <= evaluation.naive_mae * 1.05

    def test_rolling_forecasts_use_no_future_returns(self) -> None:
        returns = simulate_garch_returns(1200, seed=5)
        origins = np.arange(600, 800)
        full = rolling_garch_forecast(returns, origins, horizon=5, refit_every=40)
        truncated = rolling_garch_forecast(returns[:800], origins, horizon=5, refit_every=40)
        np.testing.assert_allclose(full, truncated, rtol=1e-12)
        assert np.all(np.isfinite(full)) and np.all(full > 0)

    def test_block_start_matches_a_fit_on_the_past_only(self) -> None:
        returns = simulate_garch_returns(1200, seed=6)
        rolling = rolling_garch_forecast(returns, np.arange(700, 720), horizon=5, refit_every=20)
        direct = garch_forecast(returns[:701], horizon=5)
        assert rolling[0] == pytest.approx(direct, rel=1e-6)

    def test_realized_volatility_and_log_returns(self) -> None:
        assert realized_volatility([0.01, -0.01]) == pytest.approx(0.01)
        np.testing.assert_allclose(log_returns([100.0, 110.0]), [np.log(1.1)])
        with pytest.raises(InvalidInput, match="positive close prices"):
            log_returns([100.0, 0.0])

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"train_fraction": 1.5}, "0 < train_fraction < 1"),
            ({"refit_every": 0}, "refit_every >= 1"),
        ],
    )
    def test_evaluation_rejects_bad_settings(self, kwargs: dict[str, Any], message: str) -> None:
        close = close_from_returns(simulate_garch_returns(300, seed=0))
        with pytest.raises(InvalidInput, match=message):
            evaluate_volatility_forecast(close, 5, **kwargs)
