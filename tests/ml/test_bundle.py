"""``combine_models``: parts side by side behind one input give each part's own outputs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LinearRegression, LogisticRegression

from chainflow.ml.training.bundle import combine_models

RNG = np.random.default_rng(5)
X = RNG.normal(size=(300, 6)).astype(np.float32)
Y_CLASS = (X[:, 0] > 0.3).astype(int) + (X[:, 1] > 0.0).astype(int)  # 0, 1, 2
Y_VOL = np.abs(X[:, 2]) + 0.1


def classifier_bytes() -> bytes:
    model = LogisticRegression(max_iter=500).fit(X, Y_CLASS)
    return to_onnx(model, X[:1], options={"zipmap": False}).SerializeToString()


def regressor_bytes(target: np.ndarray) -> bytes:
    return to_onnx(LinearRegression().fit(X, target), X[:1]).SerializeToString()


def run(data: bytes, inputs: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: inputs}), strict=True))


def test_combined_outputs_equal_each_part_run_alone() -> None:
    cls, vol, mom = classifier_bytes(), regressor_bytes(Y_VOL), regressor_bytes(X[:, 3])
    combined = combine_models(
        {
            "probabilities": (cls, "probabilities"),
            "volatility": (vol, "variable"),
            "momentum": (mom, "variable"),
        },
        metadata={"feature_set": "fx-core@1"},
    )

    got = run(combined, X)

    assert list(got) == ["probabilities", "volatility", "momentum"]
    np.testing.assert_array_equal(got["probabilities"], run(cls, X)["probabilities"])
    np.testing.assert_array_equal(got["volatility"], run(vol, X)["variable"])
    np.testing.assert_array_equal(got["momentum"], run(mom, X)["variable"])
    meta = {p.key: p.value for p in onnx.load_from_string(combined).metadata_props}
    assert meta == {"feature_set": "fx-core@1"}


def test_unknown_output_or_mismatched_input_is_a_clear_error() -> None:
    cls = classifier_bytes()
    with pytest.raises(ValueError, match="expected output 'nope'"):
        combine_models({"p": (cls, "nope")})
    narrow = to_onnx(LinearRegression().fit(X[:, :3], Y_VOL), X[:1, :3]).SerializeToString()
    with pytest.raises(ValueError, match="expected every part to take"):
        combine_models({"p": (cls, "probabilities"), "v": (narrow, "variable")})
    with pytest.raises(ValueError, match="at least one part"):
        combine_models({})


def window_mean_classifier(window: int, k: int) -> bytes:
    """A [N, window, k] → [N, 3] graph by hand: mean over time, a matrix, softmax."""
    from onnx import TensorProto, helper, numpy_helper

    weights = RNG.normal(size=(k, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=0),
            helper.make_node("MatMul", ["m", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "window_mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", window, k])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_window_input_feeds_sequence_parts_whole_and_vector_parts_the_last_row() -> None:
    window, k = 4, X.shape[1]
    sequence = window_mean_classifier(window, k)
    vol = regressor_bytes(Y_VOL)
    windows = np.lib.stride_tricks.sliding_window_view(X, window, axis=0).transpose(0, 2, 1)
    windows = np.ascontiguousarray(windows, dtype=np.float32)

    combined = combine_models(
        {"probabilities": (sequence, "probabilities"), "volatility": (vol, "variable")},
        window=window,
    )
    got = run(combined, windows)

    np.testing.assert_array_equal(got["probabilities"], run(sequence, windows)["probabilities"])
    np.testing.assert_array_equal(got["volatility"], run(vol, windows[:, -1, :])["variable"])
