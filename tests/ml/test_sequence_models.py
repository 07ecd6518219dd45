"""LSTM and CNN classifiers: they learn a signal spread over the window, their ONNX graphs
match ``predict_proba``, training is reproducible, and they join an ONNX ensemble."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from skl2onnx import to_onnx  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from chainflow.ml.training.ensemble import ensemble_proba, ensemble_to_onnx  # noqa: E402
from chainflow.ml.training.sequence_models import (  # noqa: E402
    predict_proba,
    sequence_to_onnx,
    train_cnn_classifier,
    train_lstm_classifier,
)

WINDOW, N_FEATURES = 12, 4
N_TRAIN, N_TEST = 1500, 300
# ONNX Runtime vs PyTorch on the same float32 inputs; measured ≤ 5e-7 for both models.
ONNX_TOLERANCE = 1e-5
ACCURACY_MARGIN = 0.15  # over the majority share on held-out rows

RNG = np.random.default_rng(7)
WINDOWS = (RNG.normal(size=(N_TRAIN + N_TEST, WINDOW, N_FEATURES)) * 3.0 + 1.0).astype(np.float32)
# The class is the window sum of feature 0 (no single row tells it), cut at its quartiles:
# down 25 %, flat 50 %, up 25 %. Features are off-centre and scaled (the model standardizes).
SUMS = WINDOWS[:, :, 0].sum(axis=1)
LABELS = np.digitize(SUMS, np.quantile(SUMS[:N_TRAIN], [0.25, 0.75]))
TRAIN, TEST = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_TEST)


def train(kind: str, windows: np.ndarray, y: np.ndarray, **options) -> torch.nn.Module:
    if kind == "lstm":
        return train_lstm_classifier(windows, y, hidden=16, **options)
    return train_cnn_classifier(windows, y, channels=16, **options)


def run(data: bytes, inputs: np.ndarray, output: str = "probabilities") -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run([output], {session.get_inputs()[0].name: inputs})[0]


@pytest.fixture(scope="module", params=["lstm", "cnn"])
def trained(request) -> tuple[str, torch.nn.Module]:
    model = train(request.param, WINDOWS[TRAIN], LABELS[TRAIN], epochs=25, batch_size=128)
    return request.param, model


def test_model_beats_the_majority_share_on_held_out_rows(trained):
    _, model = trained
    probabilities = predict_proba(model, WINDOWS[TEST])
    majority_share = np.bincount(LABELS[TEST]).max() / N_TEST

    accuracy = (probabilities.argmax(axis=1) == LABELS[TEST]).mean()

    assert accuracy >= majority_share + ACCURACY_MARGIN


def test_predict_proba_is_a_distribution_per_row(trained):
    _, model = trained
    probabilities = predict_proba(model, WINDOWS[TEST])

    assert probabilities.shape == (N_TEST, 3)
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 50])
def test_onnx_matches_predict_proba_for_any_batch_size(trained, rows):
    _, model = trained
    data = sequence_to_onnx(model, WINDOW, N_FEATURES)
    windows = WINDOWS[N_TRAIN : N_TRAIN + rows]

    got = run(data, windows)

    assert got.shape == (rows, 3)
    assert np.abs(got - predict_proba(model, windows)).max() <= ONNX_TOLERANCE


def test_onnx_signature_and_metadata(trained):
    kind, model = trained
    exported = onnx.load_from_string(
        sequence_to_onnx(model, WINDOW, N_FEATURES, metadata={"model": kind})
    )

    (features,) = exported.graph.input
    (probabilities,) = exported.graph.output
    assert features.name == "features"
    assert probabilities.name == "probabilities"
    feature_dims = features.type.tensor_type.shape.dim
    assert feature_dims[0].dim_param  # a named, dynamic batch axis
    assert [d.dim_value for d in feature_dims[1:]] == [WINDOW, N_FEATURES]
    assert features.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert probabilities.type.tensor_type.shape.dim[1].dim_value == 3
    assert {p.key: p.value for p in exported.metadata_props} == {"model": kind}


@pytest.mark.parametrize("kind", ["lstm", "cnn"])
def test_same_seed_gives_the_same_model_and_another_seed_does_not(kind):
    windows, y = WINDOWS[:300], LABELS[:300]
    options = {"epochs": 2, "batch_size": 64}

    first = train(kind, windows, y, seed=3, **options)
    second = train(kind, windows, y, seed=3, **options)
    other = train(kind, windows, y, seed=4, **options)

    for name, tensor in first.state_dict().items():
        torch.testing.assert_close(tensor, second.state_dict()[name], rtol=0, atol=0)
    np.testing.assert_array_equal(predict_proba(first, windows), predict_proba(second, windows))
    assert not np.array_equal(predict_proba(first, windows), predict_proba(other, windows))


def test_training_leaves_the_callers_torch_settings_alone():
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)

    train("cnn", WINDOWS[:100], LABELS[:100], epochs=1, num_threads=1)

    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.rand(1), expected_next)


def test_time_budget_stops_after_the_first_epoch():
    model = train("lstm", WINDOWS[:200], LABELS[:200], epochs=1000, max_seconds=0.0)

    assert predict_proba(model, WINDOWS[:3]).shape == (3, 3)


def test_balanced_class_weights_train(trained):
    kind, _ = trained
    skewed = np.where(LABELS[:400] == 2, 1, LABELS[:400])  # no "up" rows at all
    model = train(kind, WINDOWS[:400], skewed, epochs=2, balance_classes=True)

    assert predict_proba(model, WINDOWS[:5]).shape == (5, 3)


@pytest.mark.parametrize(
    ("windows", "y", "message"),
    [
        (np.zeros((10, 4), np.float32), np.zeros(10, int), "shape \\(n, w, k\\)"),
        (np.zeros((10, 3, 2), np.float32), np.zeros(9, int), "y of shape"),
        (np.zeros((10, 3, 2), np.float32), np.full(10, 3), "labels in"),
        (np.zeros((10, 3, 2), np.float32), np.zeros(10, float), "integer labels"),
        (np.full((10, 3, 2), np.nan, np.float32), np.zeros(10, int), "finite"),
        (np.zeros((1, 3, 2), np.float32), np.zeros(1, int), "at least 2 windows"),
    ],
)
def test_bad_training_data_is_rejected(windows, y, message):
    with pytest.raises(ValueError, match=message):
        train_lstm_classifier(windows, y, epochs=1)


def test_even_cnn_kernel_is_rejected():
    with pytest.raises(ValueError, match="odd kernel_size"):
        train_cnn_classifier(WINDOWS[:20], LABELS[:20], kernel_size=4)


def test_export_rejects_a_window_shape_the_model_cannot_take(trained):
    _, model = trained
    with pytest.raises(ValueError, match=r"expected the model to take \[N, 12, 5\]"):
        sequence_to_onnx(model, WINDOW, N_FEATURES + 1)


def test_sequence_and_row_members_in_one_onnx_ensemble(trained):
    """A torch member on the window and a boosted-like member on the last row, one graph."""
    _, model = trained
    rows = WINDOWS[TRAIN, -1, :]
    row_model = LogisticRegression(max_iter=500).fit(rows, LABELS[TRAIN])
    row_member = to_onnx(row_model, rows[:1], options={"zipmap": False}).SerializeToString()
    sequence_member = sequence_to_onnx(model, WINDOW, N_FEATURES)
    weights = np.array([0.3, 0.7])
    graph = ensemble_to_onnx(
        [(row_member, "probabilities"), (sequence_member, "probabilities")],
        weights,
        window=WINDOW,
        n_features=N_FEATURES,
    )

    for count in (1, 50):
        windows = WINDOWS[N_TRAIN : N_TRAIN + count]
        expected = ensemble_proba(
            [run(row_member, windows[:, -1, :]), run(sequence_member, windows)], weights
        )
        assert np.abs(run(graph, windows) - expected).max() <= ONNX_TOLERANCE
