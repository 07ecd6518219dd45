"""Ensemble weights on held-out rows, the weighted mix, and the one-graph ONNX ensemble.

No PyTorch: the row member ([N, k], like a boosted model) is a skl2onnx logistic
regression on the window's last row; the window member ([N, w, k], like an LSTM) is a
hand-built graph, ReduceMean over time then MatMul + Add + Softmax.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from chainflow.ml.training.ensemble import (
    ensemble_proba,
    ensemble_to_onnx,
    fit_ensemble_weights,
    validate_weights,
)

WINDOW, N_FEATURES = 8, 4
ONNX_TOLERANCE = 1e-6  # float32 weighted sum of float32 probabilities; measured ~7e-8

RNG = np.random.default_rng(11)
WINDOWS = RNG.normal(size=(900, WINDOW, N_FEATURES)).astype(np.float32)
# Class 0/1/2 from a mix of the window's mean (feature 0) and its last row (feature 1): each
# member sees only part of the signal, so the mix beats both.
SCORE = WINDOWS[:, :, 0].mean(axis=1) * 2.0 + WINDOWS[:, -1, 1] * 0.7
LABELS = np.digitize(SCORE + RNG.normal(scale=0.3, size=len(SCORE)), [-0.5, 0.5])
TRAIN, VALID = slice(0, 600), slice(600, 900)


def window_member_bytes(opset: int = 17) -> bytes:
    """[N, w, k] → mean over time → logistic regression fitted on that mean → softmax."""
    means = WINDOWS[TRAIN].mean(axis=1)
    fitted = LogisticRegression(max_iter=1000).fit(means, LABELS[TRAIN])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["mean", "coefficients"], ["scores"]),
        helper.make_node("Add", ["scores", "intercepts"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "window_member",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", WINDOW, N_FEATURES])],
        [helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT, ["n", 3])],
        initializer=[
            numpy_helper.from_array(fitted.coef_.T.astype(np.float32), "coefficients"),
            numpy_helper.from_array(fitted.intercept_.astype(np.float32), "intercepts"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def row_member_bytes(*, random_labels: bool = False) -> bytes:
    """Logistic regression on the window's last row, fitted on the labels or on noise."""
    rows = WINDOWS[TRAIN, -1, :]
    noise = np.random.default_rng(3).integers(0, 3, size=len(rows))
    targets = noise if random_labels else LABELS[TRAIN]
    fitted = LogisticRegression(max_iter=1000).fit(rows, targets)
    return to_onnx(fitted, rows[:1], options={"zipmap": False}).SerializeToString()


def log_loss(y: np.ndarray, probabilities: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-15, None))))


def run(data: bytes, inputs: np.ndarray, output: str = "probabilities") -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run([output], {session.get_inputs()[0].name: inputs})[0]


@pytest.fixture(scope="module")
def members() -> dict[str, bytes]:
    return {
        "row": row_member_bytes(),
        "window": window_member_bytes(),
        "noise": row_member_bytes(random_labels=True),
    }


@pytest.fixture(scope="module")
def validation_probas(members: dict[str, bytes]) -> list[np.ndarray]:
    windows = WINDOWS[VALID]
    return [
        run(members["row"], windows[:, -1, :]),
        run(members["window"], windows),
        run(members["noise"], windows[:, -1, :]),
    ]


def test_weights_are_a_distribution_and_deterministic(validation_probas):
    weights = fit_ensemble_weights(validation_probas, LABELS[VALID])

    assert weights.shape == (3,)
    assert (weights >= 0).all()
    assert weights.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_array_equal(weights, fit_ensemble_weights(validation_probas, LABELS[VALID]))


def test_ensemble_log_loss_is_at_most_the_best_members(validation_probas):
    y = LABELS[VALID]
    weights = fit_ensemble_weights(validation_probas, y)
    member_losses = [log_loss(y, p) for p in validation_probas]
    mixed = log_loss(y, ensemble_proba(validation_probas, weights))

    assert mixed <= min(member_losses) + 1e-12
    # Each useful member sees half the signal: the mix is strictly better than either.
    assert mixed < min(member_losses) - 0.01
    assert weights[2] < 0.1  # the noise member earns (almost) nothing


def test_all_weight_goes_to_a_member_that_dominates():
    y = LABELS[VALID]
    perfect = np.eye(3)[y] * 0.98 + 0.01
    uniform = np.full_like(perfect, 1 / 3)

    weights = fit_ensemble_weights([uniform, perfect], y)

    np.testing.assert_allclose(weights, [0.0, 1.0], atol=1e-6)


def test_one_member_gets_weight_one(validation_probas):
    np.testing.assert_array_equal(fit_ensemble_weights(validation_probas[:1], LABELS[VALID]), [1.0])


def test_ensemble_proba_is_the_weighted_sum(validation_probas):
    weights = np.array([0.5, 0.3, 0.2])
    mixed = ensemble_proba(validation_probas, weights)

    expected = sum(w * p for w, p in zip(weights, validation_probas, strict=True))
    np.testing.assert_allclose(mixed, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-6)


def test_ensemble_onnx_equals_the_mix_of_members_onnx_outputs(members, validation_probas):
    weights = fit_ensemble_weights(validation_probas, LABELS[VALID])
    ordered = [members["row"], members["window"], members["noise"]]
    graph = ensemble_to_onnx(
        [(data, "probabilities") for data in ordered],
        weights,
        window=WINDOW,
        n_features=N_FEATURES,
        metadata={"kind": "ensemble"},
    )
    windows = WINDOWS[VALID]

    got = run(graph, windows)

    expected = ensemble_proba(validation_probas, weights)
    assert got.shape == (len(windows), 3)
    assert got.dtype == np.float32
    assert np.abs(got - expected).max() <= ONNX_TOLERANCE
    model = onnx.load_from_string(graph)
    assert [i.name for i in model.graph.input] == ["features"]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert {p.key: p.value for p in model.metadata_props} == {"kind": "ensemble"}


@pytest.mark.parametrize("rows", [1, 50])
def test_ensemble_onnx_takes_any_batch_size(members, rows):
    graph = ensemble_to_onnx(
        [(members["row"], "probabilities"), (members["window"], "probabilities")],
        [0.25, 0.75],
        window=WINDOW,
        n_features=N_FEATURES,
    )
    windows = WINDOWS[:rows]

    got = run(graph, windows)

    expected = 0.25 * run(members["row"], windows[:, -1, :]) + 0.75 * run(
        members["window"], windows
    )
    assert got.shape == (rows, 3)
    assert np.abs(got - expected).max() <= ONNX_TOLERANCE


def test_members_at_different_opsets_are_raised_to_the_highest(members):
    """The hand-built member uses ReduceMean-13 (axes attribute); skl2onnx writes opset 22,
    where ReduceMean takes axes as an input: the member is converted, not just relabelled."""
    graph = ensemble_to_onnx(
        [(window_member_bytes(opset=13), "probabilities"), (members["row"], "probabilities")],
        [0.5, 0.5],
        window=WINDOW,
        n_features=N_FEATURES,
    )
    windows = WINDOWS[VALID]
    expected = 0.5 * run(window_member_bytes(opset=13), windows) + 0.5 * run(
        members["row"], windows[:, -1, :]
    )

    assert np.abs(run(graph, windows) - expected).max() <= ONNX_TOLERANCE


def test_ensemble_of_window_members_only_has_no_gather(members):
    graph = ensemble_to_onnx(
        [(members["window"], "probabilities")], [1.0], window=WINDOW, n_features=N_FEATURES
    )

    assert "Gather" not in {node.op_type for node in onnx.load_from_string(graph).graph.node}
    np.testing.assert_allclose(
        run(graph, WINDOWS[:5]), run(members["window"], WINDOWS[:5]), rtol=0, atol=1e-7
    )


@pytest.mark.parametrize(
    ("probas", "y", "message"),
    [
        ([], [0], "at least one member"),
        ([np.full((3, 2), 0.5)], [0, 1, 2], "shape"),
        ([np.full((3, 3), 1 / 3), np.full((4, 3), 1 / 3)], [0, 1, 2], "all alike"),
        ([np.full((3, 3), 1 / 3)], [0, 1], "y of shape"),
        ([np.full((3, 3), 1 / 3)], [0, 1, 3], "labels in"),
        ([np.full((3, 3), np.nan)], [0, 1, 2], "finite"),
    ],
)
def test_bad_probabilities_or_labels_are_rejected(probas, y, message):
    with pytest.raises(ValueError, match=message):
        fit_ensemble_weights(probas, np.asarray(y))


@pytest.mark.parametrize(
    ("weights", "message"),
    [([0.5], "expected 2 weights"), ([1.2, -0.2], "non-negative"), ([0.5, 0.6], "summing to 1")],
)
def test_bad_weights_are_rejected(weights, message):
    with pytest.raises(ValueError, match=message):
        validate_weights(weights, 2)


def test_member_with_the_wrong_input_width_is_rejected(members):
    with pytest.raises(ValueError, match=r"expected member 0 to take FLOAT\[N, 5\]"):
        ensemble_to_onnx(
            [(members["row"], "probabilities")], [1.0], window=WINDOW, n_features=N_FEATURES + 1
        )


def test_member_without_the_named_output_is_rejected(members):
    with pytest.raises(ValueError, match="expected output 'scores' in member 0"):
        ensemble_to_onnx([(members["row"], "scores")], [1.0], window=WINDOW, n_features=N_FEATURES)


def test_member_output_that_is_not_three_probabilities_is_rejected(members):
    with pytest.raises(ValueError, match="to be FLOAT"):
        ensemble_to_onnx([(members["row"], "label")], [1.0], window=WINDOW, n_features=N_FEATURES)
