"""One ONNX file per served model: the classifier and its regressors side by side.

A served model answers three things for a feature vector (DESIGN.md's signal): class
probabilities (down, flat, up), the expected volatility over the label horizon and a
momentum score. They come from separately trained models; ``combine_models`` puts their
graphs in parallel behind one input, so the registry stores one artifact with one hash, and
ONNX Runtime runs them in one session call::

    features (float32, [n, k]) ─┬─ classifier ─→ probabilities [n, 3]
                                ├─ volatility  ─→ volatility    [n, 1]
                                └─ momentum    ─→ momentum      [n, 1]

Each part's names get a prefix (``onnx.compose.add_prefix``) so that nothing collides; the
shared input feeds each part's own input through an ``Identity`` node, and each exposed
output leaves through an ``Identity`` named as the caller asked. With ``window`` the shared
input is a window of vectors ``[n, window, k]``: parts taking windows (LSTM, CNN, an
ensemble) get it whole, parts taking one vector ``[n, k]`` (gradient boosting) get its last
row through a ``Gather``. Parts are raised to the highest default-domain opset among them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import compose, helper, numpy_helper, version_converter

from chainflow.ml.errors import IncompatibleModelError, InvalidMlInputError

INPUT_NAME = "features"


def combine_models(
    parts: Mapping[str, tuple[bytes, str]],
    *,
    input_name: str = INPUT_NAME,
    window: int | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Return one model running ``parts`` in parallel on one input.

    ``parts`` maps each output name of the combined model to ``(onnx_bytes, output)``: the
    serialized part and which of its outputs to expose. Every part must have exactly one
    input; without ``window`` all of the same type, with it each ``[n, k]`` or
    ``[n, window, k]`` of one ``k``. Raise ``ValueError`` otherwise.
    """
    if not parts:
        raise InvalidMlInputError("expected at least one part; received none")
    loaded = [onnx.load_from_string(data) for data, _ in parts.values()]
    target = max(default_opset(model) for model in loaded)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    sparse: list[onnx.SparseTensorProto] = []
    value_info: list[onnx.ValueInfoProto] = []
    outputs: list[onnx.ValueInfoProto] = []
    opsets: dict[str, int] = {}
    shared_input: onnx.ValueInfoProto | None = None
    for index, ((exposed, (_, output)), original) in enumerate(
        zip(parts.items(), loaded, strict=True)
    ):
        model = compose.add_prefix(at_opset(original, target), prefix=f"p{index}_")
        graph = model.graph
        if len(graph.input) != 1:
            raise IncompatibleModelError(
                f"expected one input in part {exposed!r}; received {len(graph.input)}"
            )
        part_input = graph.input[0]
        if window is not None:
            nodes.extend(_windowed_feed(part_input, input_name, window, index, exposed))
            if shared_input is None:
                shared_input = _window_input(input_name, part_input, window)
            elif _width(part_input) != _width(shared_input):
                raise IncompatibleModelError(
                    f"expected every part to take {_width(shared_input)} features; part "
                    f"{exposed!r} takes {_describe(part_input)}"
                )
        elif shared_input is None:
            shared_input = helper.make_value_info(input_name, part_input.type)
        elif part_input.type != shared_input.type:
            raise IncompatibleModelError(
                f"expected every part to take {_describe(shared_input)}; part {exposed!r} "
                f"takes {_describe(part_input)}"
            )
        by_name = {o.name: o for o in graph.output}
        prefixed = f"p{index}_{output}"
        if prefixed not in by_name:
            known = [o.name.removeprefix(f"p{index}_") for o in graph.output]
            raise IncompatibleModelError(
                f"expected output {output!r} in part {exposed!r}; it has {known}"
            )
        if window is None:
            nodes.append(helper.make_node("Identity", [input_name], [part_input.name]))
        nodes.extend(graph.node)
        nodes.append(helper.make_node("Identity", [prefixed], [exposed]))
        initializers.extend(graph.initializer)
        sparse.extend(graph.sparse_initializer)
        value_info.extend(graph.value_info)
        exposed_info = onnx.ValueInfoProto()
        exposed_info.CopyFrom(by_name[prefixed])
        exposed_info.name = exposed
        outputs.append(exposed_info)
        for opset in model.opset_import:
            domain = "" if opset.domain == "ai.onnx" else opset.domain
            opsets[domain] = max(opsets.get(domain, 0), opset.version)
    assert shared_input is not None
    opsets.setdefault("", 15)  # the Identity/Gather/Constant nodes added here need it
    graph = helper.make_graph(
        nodes,
        "chainflow_bundle",
        [shared_input],
        outputs,
        initializer=initializers,
        sparse_initializer=sparse,
        value_info=value_info,
    )
    combined = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, v) for domain, v in sorted(opsets.items())],
        producer_name="chainflow",
    )
    combined.ir_version = min(combined.ir_version, max(_ir_versions(parts)))
    for key, value in (metadata or {}).items():
        entry = combined.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(combined)
    return combined.SerializeToString()


def default_opset(model: onnx.ModelProto) -> int:
    """Return the default-domain (``ai.onnx``) opset ``model`` imports; 0 if it imports none
    (a graph of ``ai.onnx.ml`` tree operators only)."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(versions, default=0)


def at_opset(model: onnx.ModelProto, target: int) -> onnx.ModelProto:
    """Return ``model`` with its default-domain opset raised to ``target`` (ops adapted)."""
    if default_opset(model) in (0, target):
        return model
    try:
        return version_converter.convert_version(model, target)
    except Exception as error:  # the converter raises bare RuntimeError/ValueError kinds
        raise IncompatibleModelError(
            f"expected a model convertible to opset {target}; {error}"
        ) from error


def _windowed_feed(
    part_input: onnx.ValueInfoProto, input_name: str, window: int, index: int, exposed: str
) -> list[onnx.NodeProto]:
    """Nodes feeding a part from the ``[n, window, k]`` input: whole, or its last row."""
    rank = len(part_input.type.tensor_type.shape.dim)
    if rank == 3:
        return [helper.make_node("Identity", [input_name], [part_input.name])]
    if rank != 2:
        raise IncompatibleModelError(
            f"expected part {exposed!r} to take [n, k] or [n, window, k]; it takes "
            f"{_describe(part_input)}"
        )
    last = f"p{index}__last_row"
    return [
        helper.make_node(
            "Constant",
            [],
            [last],
            value=numpy_helper.from_array(np.array(window - 1, dtype=np.int64), last),
        ),
        helper.make_node("Gather", [input_name, last], [part_input.name], axis=1),
    ]


def _window_input(name: str, part_input: onnx.ValueInfoProto, window: int) -> onnx.ValueInfoProto:
    tensor = part_input.type.tensor_type
    return helper.make_tensor_value_info(name, tensor.elem_type, ["N", window, _width(part_input)])


def _width(info: onnx.ValueInfoProto) -> int:
    dims = info.type.tensor_type.shape.dim
    return dims[-1].dim_value if dims else 0


def _ir_versions(parts: Mapping[str, tuple[bytes, str]]) -> list[int]:
    return [onnx.load_from_string(data).ir_version for data, _ in parts.values()]


def _describe(info: onnx.ValueInfoProto) -> str:
    tensor = info.type.tensor_type
    dims = [
        d.dim_value if d.HasField("dim_value") else d.dim_param or "?" for d in tensor.shape.dim
    ]
    return f"{onnx.TensorProto.DataType.Name(tensor.elem_type)}{dims}"
