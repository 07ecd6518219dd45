"""A weighted average of classifiers' probabilities, fitted on held-out rows, as one ONNX graph.

The weights are non-negative and sum to 1; ``fit_ensemble_weights`` picks them to minimize
the multi-class log-loss of the mixture on validation (or out-of-fold) rows. That loss is
convex in the weights, so SLSQP on the simplex finds the optimum from the uniform start.
The best single member and the uniform mix are kept as candidates, so the result is never
worse on those rows than the best member alone.

``ensemble_to_onnx`` builds one graph over a window of feature rows::

    features [N, window, k] ─┬─ Gather(axis 1, last step) ─→ [N, k] ─→ boosted member ─┐
                             └────────────────────────────────────→ sequence member ──┤
                                          Σ weight_i · probabilities_i ←─────────────┘
                                          └─→ probabilities [N, 3]

Members taking ``[N, k]`` (gradient boosting) get the window's last row; members taking
``[N, window, k]`` (LSTM, CNN) get the whole window. No PyTorch here: serving imports this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from numpy.typing import ArrayLike, NDArray
from onnx import compose, helper, numpy_helper
from scipy.optimize import minimize

from chainflow.ml.errors import IncompatibleModelError, InvalidMlInputError
from chainflow.ml.training.bundle import INPUT_NAME, at_opset, default_opset

N_CLASSES = 3
OUTPUT_NAME = "probabilities"
BATCH_AXIS_NAME = "N"
PROBABILITY_FLOOR = 1e-15
WEIGHT_SUM_TOLERANCE = 1e-6
DEFAULT_DOMAIN = ""
LAST_STEP_NAME = "ensemble_last_step"


def fit_ensemble_weights(
    member_probas: Sequence[ArrayLike], y: ArrayLike, *, max_iterations: int = 500
) -> NDArray[np.float64]:
    """Weights (non-negative, sum 1) minimizing the log-loss of ``Σ w_i · member_probas[i]``.

    ``member_probas[i]`` is member ``i``'s ``(n, 3)`` probabilities on the same held-out
    rows, ``y`` their labels in {0, 1, 2}. Deterministic: same inputs, same weights.
    """
    stacked = _stack_probas(member_probas)
    labels = _validate_labels(y, stacked.shape[1])
    n_members = stacked.shape[0]
    if n_members == 1:
        return np.ones(1)
    # Only each row's true-class probability enters the loss: P[i, m] = p_m[i, y_i].
    true_class = np.maximum(stacked[:, np.arange(len(labels)), labels].T, PROBABILITY_FLOOR)

    def loss(weights: NDArray[np.float64]) -> float:
        return float(-np.mean(np.log(np.maximum(true_class @ weights, PROBABILITY_FLOOR))))

    def gradient(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        mixture = np.maximum(true_class @ weights, PROBABILITY_FLOOR)
        return -(true_class / mixture[:, None]).mean(axis=0)

    def total_minus_one(weights: NDArray[np.float64]) -> float:
        return weights.sum() - 1.0

    uniform = np.full(n_members, 1.0 / n_members)
    result = minimize(
        loss,
        uniform,
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * n_members,
        constraints=[{"type": "eq", "fun": total_minus_one, "jac": np.ones_like}],
        options={"maxiter": max_iterations, "ftol": 1e-12},
    )
    candidates = [_onto_simplex(result.x), uniform, *np.eye(n_members)]
    return min(candidates, key=loss)


def ensemble_proba(member_probas: Sequence[ArrayLike], weights: ArrayLike) -> NDArray[np.float64]:
    """``Σ weights[i] · member_probas[i]``, shape ``(n, 3)``."""
    stacked = _stack_probas(member_probas)
    checked = validate_weights(weights, stacked.shape[0])
    return np.tensordot(checked, stacked, axes=1)


def ensemble_to_onnx(
    members: Sequence[tuple[bytes, str]],
    weights: ArrayLike,
    *,
    window: int,
    n_features: int,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """One graph: ``features`` float32 ``[N, window, n_features]`` → ``probabilities`` [N, 3].

    ``members[i]`` is ``(onnx_bytes, output)``: a serialized classifier with one float
    input, either ``[N, n_features]`` (fed the window's last row) or ``[N, window,
    n_features]`` (fed the window), and the name of its ``[N, 3]`` probabilities output.
    Members are converted to the highest default-domain opset among them. Raise
    ``ValueError`` when a member does not fit.
    """
    if window < 1 or n_features < 1:
        raise InvalidMlInputError(
            f"expected window >= 1 and n_features >= 1; received {window} and {n_features}"
        )
    if not members:
        raise InvalidMlInputError("expected at least one member; received none")
    checked_weights = validate_weights(weights, len(members))
    loaded = [onnx.load_from_string(data) for data, _ in members]
    target_opset = max(default_opset(model) for model in loaded)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    sparse: list[onnx.SparseTensorProto] = []
    value_info: list[onnx.ValueInfoProto] = []
    functions: list[onnx.FunctionProto] = []
    opsets: dict[str, int] = {DEFAULT_DOMAIN: target_opset}
    weighted: list[str] = []
    needs_last_step = False
    for index, (model, (_, output)) in enumerate(zip(loaded, members, strict=True)):
        prefix = f"m{index}_"
        model = compose.add_prefix(at_opset(model, target_opset), prefix=prefix)
        graph = model.graph
        member_input = _single_input(graph, index)
        takes_window = _input_kind(member_input, window, n_features, index)
        needs_last_step = needs_last_step or not takes_window
        member_output = _find_output(graph, prefix + output, output, index)
        source = INPUT_NAME if takes_window else LAST_STEP_NAME
        weight_name = f"ensemble_weight_{index}"
        initializers.append(
            numpy_helper.from_array(np.array(checked_weights[index], np.float32), weight_name)
        )
        nodes.append(helper.make_node("Identity", [source], [member_input.name]))
        nodes.extend(graph.node)
        weighted_name = f"ensemble_weighted_{index}"
        nodes.append(helper.make_node("Mul", [member_output.name, weight_name], [weighted_name]))
        weighted.append(weighted_name)
        initializers.extend(graph.initializer)
        sparse.extend(graph.sparse_initializer)
        value_info.extend(graph.value_info)
        functions.extend(model.functions)
        for opset in model.opset_import:
            domain = _normalized_domain(opset.domain)
            opsets[domain] = max(opsets.get(domain, 0), opset.version)
    if needs_last_step:
        initializers.append(numpy_helper.from_array(np.array(-1, np.int64), "ensemble_last_index"))
        nodes.insert(
            0,
            helper.make_node(
                "Gather", [INPUT_NAME, "ensemble_last_index"], [LAST_STEP_NAME], axis=1
            ),
        )
    nodes.append(helper.make_node("Sum", weighted, [OUTPUT_NAME]))
    graph = helper.make_graph(
        nodes,
        "chainflow_ensemble",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, onnx.TensorProto.FLOAT, [BATCH_AXIS_NAME, window, n_features]
            )
        ],
        [
            helper.make_tensor_value_info(
                OUTPUT_NAME, onnx.TensorProto.FLOAT, [BATCH_AXIS_NAME, N_CLASSES]
            )
        ],
        initializer=initializers,
        sparse_initializer=sparse,
        value_info=value_info,
    )
    combined = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, v) for domain, v in sorted(opsets.items())],
        functions=functions,
        producer_name="chainflow",
    )
    combined.ir_version = min(combined.ir_version, max(m.ir_version for m in loaded))
    for key, value in (metadata or {}).items():
        entry = combined.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(combined)
    return combined.SerializeToString()


def validate_weights(weights: ArrayLike, n_members: int) -> NDArray[np.float64]:
    """``weights`` as float64 ``(n_members,)``, checked non-negative and summing to 1."""
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (n_members,):
        raise InvalidMlInputError(f"expected {n_members} weights; received shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise InvalidMlInputError(
            f"expected finite non-negative weights; received {array.tolist()}"
        )
    if abs(array.sum() - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise InvalidMlInputError(f"expected weights summing to 1; received sum {array.sum():.9g}")
    return array


def _stack_probas(member_probas: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """Members' probabilities as one ``(members, n, 3)`` float64 array, checked."""
    if len(member_probas) == 0:
        raise InvalidMlInputError("expected at least one member's probabilities; received none")
    arrays = [np.asarray(p, dtype=np.float64) for p in member_probas]
    first = arrays[0].shape
    for index, array in enumerate(arrays):
        if array.ndim != 2 or array.shape[1] != N_CLASSES or array.shape != first:
            raise InvalidMlInputError(
                f"expected member probabilities of shape (n, {N_CLASSES}) for every member, "
                f"all alike; received {array.shape} for member {index} (member 0: {first})"
            )
        if not np.isfinite(array).all() or (array < 0).any():
            raise InvalidMlInputError(
                f"expected finite non-negative probabilities; member {index} has not"
            )
    return np.stack(arrays)


def _validate_labels(y: ArrayLike, n: int) -> NDArray[np.int64]:
    labels = np.asarray(y)
    if labels.shape != (n,):
        raise InvalidMlInputError(f"expected y of shape ({n},); received {labels.shape}")
    if n == 0:
        raise InvalidMlInputError("expected at least one validation row; received none")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidMlInputError(f"expected integer labels; received dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise InvalidMlInputError(
            f"expected labels in {{0, 1, 2}}; received {np.unique(labels).tolist()}"
        )
    return labels.astype(np.int64)


def _onto_simplex(weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Clip the optimizer's tiny negative or overshooting values and renormalize."""
    clipped = np.clip(weights, 0.0, None)
    total = clipped.sum()
    return clipped / total if total > 0 else np.full(len(weights), 1.0 / len(weights))


def _normalized_domain(domain: str) -> str:
    return DEFAULT_DOMAIN if domain == "ai.onnx" else domain


def _single_input(graph: onnx.GraphProto, index: int) -> onnx.ValueInfoProto:
    initialized = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialized]
    if len(inputs) != 1:
        raise IncompatibleModelError(
            f"expected one input in member {index}; received {len(inputs)}"
        )
    return inputs[0]


def _input_kind(info: onnx.ValueInfoProto, window: int, n_features: int, index: int) -> bool:
    """True when the member takes the whole window, False when it takes one row."""
    tensor = info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    fits_row = len(dims) == 2 and dims[1] in (None, n_features)
    fits_window = len(dims) == 3 and dims[1] in (None, window) and dims[2] in (None, n_features)
    if tensor.elem_type != onnx.TensorProto.FLOAT or not (fits_row or fits_window):
        described = f"{onnx.TensorProto.DataType.Name(tensor.elem_type)}{dims}"
        raise IncompatibleModelError(
            f"expected member {index} to take FLOAT[N, {n_features}] or "
            f"FLOAT[N, {window}, {n_features}]; received {described}"
        )
    return fits_window


def _find_output(
    graph: onnx.GraphProto, prefixed: str, output: str, index: int
) -> onnx.ValueInfoProto:
    by_name = {o.name: o for o in graph.output}
    if prefixed not in by_name:
        known = [o.name.removeprefix(f"m{index}_") for o in graph.output]
        raise IncompatibleModelError(
            f"expected output {output!r} in member {index}; it has {known}"
        )
    tensor = by_name[prefixed].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(dims) != 2 or dims[1] not in (None, 3):
        raise IncompatibleModelError(
            f"expected member {index}'s output {output!r} to be FLOAT[N, 3]; "
            f"received {onnx.TensorProto.DataType.Name(tensor.elem_type)}{dims}"
        )
    return by_name[prefixed]
