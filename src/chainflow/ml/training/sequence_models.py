"""LSTM and 1-D CNN classifiers over windows of feature rows, and their ONNX export.

A window is the last ``w`` feature rows of one symbol, oldest first: ``windows`` has shape
``(n, w, k)`` and label ``y[i]`` (0 down, 1 flat, 2 up) belongs to the window's last row.
Rows are in time order, so early stopping holds out the *last* rows (a tail by time, never
shuffled across it); minibatches are shuffled only inside the training part.

Both models standardize their input with the training part's per-feature mean and standard
deviation, stored as buffers, so the exported graph takes raw features like the boosted
models do. ``forward`` returns logits; ``predict_proba`` and the ONNX graph apply softmax.

This module imports PyTorch (extra ``train``): import it only to train sequence models.
Serving runs the exported ONNX graph.
"""

from __future__ import annotations

import copy
import io
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import onnx
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from chainflow.ml.errors import IncompatibleModelError, InsufficientDataError, InvalidMlInputError

N_CLASSES = 3
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
BATCH_AXIS_NAME = "N"
DEFAULT_OPSET = 17
STD_FLOOR = 1e-6


class FeatureStandardizer(nn.Module):
    """``(x - mean) / std`` per feature, with constants fixed at training time."""

    mean: torch.Tensor  # registered buffers
    std: torch.Tensor

    def __init__(self, mean: NDArray[np.float32], std: NDArray[np.float32]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class LSTMClassifier(nn.Module):
    """Batch-first LSTM; the last time step's hidden state feeds a linear layer to 3 logits."""

    def __init__(self, standardizer: FeatureStandardizer, n_features: int, hidden: int) -> None:
        super().__init__()
        self.standardizer = standardizer
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.lstm(self.standardizer(x))
        return self.head(sequence[:, -1, :])


class CNNClassifier(nn.Module):
    """Two 1-D convolutions over time (features as channels), mean and max pooling, 3 logits."""

    def __init__(
        self, standardizer: FeatureStandardizer, n_features: int, channels: int, kernel_size: int
    ) -> None:
        super().__init__()
        self.standardizer = standardizer
        padding = kernel_size // 2
        self.convolutions = nn.Sequential(
            nn.Conv1d(n_features, channels, kernel_size, padding=padding),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size, padding=padding),
            nn.ReLU(),
        )
        self.head = nn.Linear(2 * channels, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.convolutions(self.standardizer(x).transpose(1, 2))  # [n, channels, w']
        pooled = torch.cat([maps.mean(dim=2), maps.amax(dim=2)], dim=1)
        return self.head(pooled)


class SoftmaxOutput(nn.Module):
    """Wrap a logits model so that it returns class probabilities (what the graph exports)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=-1)


def train_lstm_classifier(
    windows: ArrayLike,
    y: ArrayLike,
    *,
    hidden: int = 32,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 2e-3,
    seed: int = 0,
    max_seconds: float | None = None,
    balance_classes: bool = False,
    validation_share: float = 0.15,
    patience: int = 5,
    num_threads: int = 2,
) -> nn.Module:
    """Train an LSTM classifier on ``windows`` ``(n, w, k)`` and labels ``y`` in {0, 1, 2}.

    The last ``validation_share`` of the rows (by time) is held out for early stopping:
    training stops after ``patience`` epochs without a lower validation loss, after
    ``epochs`` epochs, or once ``max_seconds`` have passed (checked after each epoch), and
    the weights of the best validation epoch are returned. ``balance_classes`` weights the
    loss by inverse class frequency. Same inputs and ``seed`` give the same weights.
    """
    features, labels = validate_training_data(windows, y)
    with _training_context(seed, num_threads):
        standardizer = _fit_standardizer(features, _split_index(len(labels), validation_share))
        model = LSTMClassifier(standardizer, features.shape[2], hidden)
        return _fit(
            model,
            features,
            labels,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            max_seconds=max_seconds,
            balance_classes=balance_classes,
            validation_share=validation_share,
            patience=patience,
        )


def train_cnn_classifier(
    windows: ArrayLike,
    y: ArrayLike,
    *,
    channels: int = 32,
    kernel_size: int = 5,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 2e-3,
    seed: int = 0,
    max_seconds: float | None = None,
    balance_classes: bool = False,
    validation_share: float = 0.15,
    patience: int = 5,
    num_threads: int = 2,
) -> nn.Module:
    """Train a 1-D CNN classifier over time; arguments as in ``train_lstm_classifier``.

    ``channels`` is the width of both convolutions and ``kernel_size`` (odd) their length
    in time steps; global mean and max pooling make the model independent of the window
    length.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise InvalidMlInputError(f"expected an odd kernel_size >= 1; received {kernel_size}")
    features, labels = validate_training_data(windows, y)
    with _training_context(seed, num_threads):
        standardizer = _fit_standardizer(features, _split_index(len(labels), validation_share))
        model = CNNClassifier(standardizer, features.shape[2], channels, kernel_size)
        return _fit(
            model,
            features,
            labels,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            max_seconds=max_seconds,
            balance_classes=balance_classes,
            validation_share=validation_share,
            patience=patience,
        )


def predict_proba(model: nn.Module, windows: ArrayLike, *, batch_size: int = 4096) -> NDArray:
    """Class probabilities ``(n, 3)`` float32 of ``model`` on ``windows`` ``(n, w, k)``.

    Puts ``model`` in eval mode and runs without gradients, in batches of ``batch_size``.
    """
    features = validate_windows(windows)
    model.eval()
    parts: list[NDArray[np.float32]] = []
    with torch.no_grad():
        for start in range(0, len(features), batch_size):
            batch = torch.from_numpy(features[start : start + batch_size])
            parts.append(torch.softmax(model(batch), dim=-1).numpy())
    if not parts:
        return np.zeros((0, N_CLASSES), dtype=np.float32)
    return np.concatenate(parts)


def sequence_to_onnx(
    model: nn.Module,
    window: int,
    n_features: int,
    metadata: Mapping[str, str] | None = None,
    *,
    opset: int = DEFAULT_OPSET,
) -> bytes:
    """Serialize ``model`` to ONNX: input ``features`` float32 ``[N, window, n_features]``
    (``N`` dynamic), output ``probabilities`` float32 ``[N, 3]`` (softmax in the graph).

    Uses the TorchScript-based exporter (``dynamo=False``), which needs no package beyond
    ``torch`` and ``onnx``; its deprecation and tracer warnings are silenced here.
    """
    if window < 1 or n_features < 1:
        raise InvalidMlInputError(
            f"expected window >= 1 and n_features >= 1; received {window} and {n_features}"
        )
    wrapped = SoftmaxOutput(model).eval()
    example = torch.zeros((2, window, n_features), dtype=torch.float32)
    try:
        with torch.no_grad():
            produced = wrapped(example)
    except RuntimeError as error:
        raise IncompatibleModelError(
            f"expected the model to take [N, {window}, {n_features}]; received error: {error}"
        ) from error
    if tuple(produced.shape) != (2, N_CLASSES):
        raise IncompatibleModelError(
            f"expected the model to map [N, {window}, {n_features}] to [N, {N_CLASSES}]; "
            f"received output shape {list(produced.shape)}"
        )
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        torch.onnx.export(
            wrapped,
            (example,),
            buffer,  # type: ignore[arg-type]  # the TorchScript exporter writes to a binary file
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: BATCH_AXIS_NAME}, OUTPUT_NAME: {0: BATCH_AXIS_NAME}},
        )
    exported = onnx.load_from_string(buffer.getvalue())
    exported.producer_name = "chainflow"
    for key, value in (metadata or {}).items():
        entry = exported.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(exported)
    return exported.SerializeToString()


def validate_windows(windows: ArrayLike) -> NDArray[np.float32]:
    """``windows`` as a C-contiguous float32 array ``(n, w, k)`` of finite values."""
    array = np.ascontiguousarray(windows, dtype=np.float32)
    if array.ndim != 3:
        raise InvalidMlInputError(
            f"expected windows of shape (n, w, k); received shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InvalidMlInputError("expected finite window values; received NaN or infinity")
    return array


def validate_training_data(
    windows: ArrayLike, y: ArrayLike
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Checked ``(windows, labels)``: labels ``(n,)`` in {0, 1, 2}, one per window."""
    features = validate_windows(windows)
    labels = np.asarray(y)
    if labels.shape != (len(features),):
        raise InvalidMlInputError(
            f"expected y of shape ({len(features)},); received {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidMlInputError(f"expected integer labels; received dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        found = sorted(set(np.unique(labels).tolist()))
        raise InvalidMlInputError(f"expected labels in {{0, 1, 2}}; received {found}")
    return features, labels.astype(np.int64)


def _split_index(n: int, validation_share: float) -> int:
    if not 0.0 < validation_share < 1.0:
        raise InvalidMlInputError(f"expected 0 < validation_share < 1; received {validation_share}")
    n_validation = max(1, round(n * validation_share))
    if n - n_validation < 1:
        raise InsufficientDataError(f"expected at least 2 windows to hold out a tail; received {n}")
    return n - n_validation


def _fit_standardizer(features: NDArray[np.float32], split: int) -> FeatureStandardizer:
    rows = features[:split].reshape(-1, features.shape[2]).astype(np.float64)
    std = rows.std(axis=0)
    std[std < STD_FLOOR] = 1.0
    return FeatureStandardizer(rows.mean(axis=0).astype(np.float32), std.astype(np.float32))


@contextmanager
def _training_context(seed: int, num_threads: int) -> Iterator[None]:
    """Seeded, deterministic, ``num_threads``; the caller's RNG and settings come back after."""
    if num_threads < 1:
        raise InvalidMlInputError(f"expected num_threads >= 1; received {num_threads}")
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(num_threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic)
            torch.set_num_threads(threads)


def _fit(
    model: nn.Module,
    features: NDArray[np.float32],
    labels: NDArray[np.int64],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    max_seconds: float | None,
    balance_classes: bool,
    validation_share: float,
    patience: int,
) -> nn.Module:
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise InvalidMlInputError(
            "expected epochs, batch_size and patience >= 1; "
            f"received {epochs}, {batch_size} and {patience}"
        )
    split = _split_index(len(labels), validation_share)
    train_x, train_y = torch.from_numpy(features[:split]), torch.from_numpy(labels[:split])
    valid_x, valid_y = torch.from_numpy(features[split:]), torch.from_numpy(labels[split:])
    loss_function = nn.CrossEntropyLoss(weight=_class_weights(labels[:split], balance_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffler = torch.Generator().manual_seed(seed)
    started = time.monotonic()
    best_loss, best_state, stale_epochs = float("inf"), copy.deepcopy(model.state_dict()), 0
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(split, generator=shuffler).split(batch_size):
            optimizer.zero_grad()
            loss = loss_function(model(train_x[batch]), train_y[batch])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            validation_loss = float(loss_function(model(valid_x), valid_y))
        if validation_loss < best_loss:
            best_loss, stale_epochs = validation_loss, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale_epochs += 1
        out_of_time = max_seconds is not None and time.monotonic() - started >= max_seconds
        if stale_epochs >= patience or out_of_time:
            break
    model.load_state_dict(best_state)
    return model.eval()


def _class_weights(labels: NDArray[np.int64], balance_classes: bool) -> torch.Tensor | None:
    """Inverse class frequency, mean 1 over the present classes; absent classes weigh 0."""
    if not balance_classes:
        return None
    counts = np.bincount(labels, minlength=N_CLASSES).astype(np.float64)
    present = counts > 0
    weights = np.zeros(N_CLASSES)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return torch.as_tensor(weights, dtype=torch.float32)
