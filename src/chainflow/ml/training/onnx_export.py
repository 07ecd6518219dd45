"""Export gradient-boosting models (XGBoost, LightGBM) to ONNX bytes with onnxmltools.

Every exported graph has the same contract, whatever the library:

- one input ``features``: float32, shape ``[None, n_features]``;
- one output: ``probabilities`` float32 ``[None, 3]`` (DOWN, FLAT, UP) for a classifier, or
  ``prediction`` float32 ``[None, 1]`` for a regressor. The classifier's probabilities are a
  plain tensor: LightGBM is converted with ``zipmap=False``, XGBoost never adds a ZipMap. The
  converters' ``label`` output is dropped from the graph outputs (the node still computes it,
  nobody reads it), which also silences ONNX Runtime's shape warning on LightGBM's ``label``;
- ``metadata_props`` with the library, its version, the model kind, ``n_features``, the class
  labels for a classifier, plus whatever the caller passes in ``metadata`` (for example the
  feature set key and fingerprint).

Notes from the onnxmltools converters (1.16):

- XGBoost trees name their features ``f0 .. fN`` and the converter parses those names back to
  column indices, so a booster trained with custom feature names cannot be converted. The
  exporter clears them on a copy of the model; the column order is then the training order.
- The default-domain opset is pinned to ``TARGET_OPSET`` (15, the highest these converters
  support); the tree operators come from ``ai.onnx.ml`` version 1 (TreeEnsembleClassifier /
  TreeEnsembleRegressor), which every ONNX Runtime since 1.0 runs.
- Tree thresholds are stored as float32. ``chainflow.ml.training.gbm`` trains on float32-cast
  features and serves float32 features, so XGBoost (whose thresholds are float32 and whose
  test is ``x < t``) reproduces its native splits exactly. LightGBM keeps its thresholds as
  doubles (``x <= t`` in double precision) and the converter rounds each to the *nearest*
  float32: when that rounds up, a float32 feature equal to the rounded value goes left in
  ONNX and right natively, and a whole tree answers another leaf (one row of a 14-day M15
  run differed by 0.0067 in probability). For float32 ``x``, ``x <= t`` holds exactly when
  ``x <= floor32(t)``, the largest float32 not above ``t``; ``_floor_lightgbm_thresholds``
  writes that value into every split node, so both paths take the same branch on every
  float32 input. Only the sums of leaf values then differ by float32 rounding (see the
  parity tests for measured tolerances).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import lightgbm
import numpy as np
import onnx
import xgboost
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType

from chainflow.core.errors import InvalidInput
from chainflow.ml.training.gbm import N_CLASSES

TARGET_OPSET = 15
INPUT_NAME = "features"
PROBABILITIES_OUTPUT = "probabilities"
PREDICTION_OUTPUT = "prediction"

GBM_CLASSIFIER_TYPES = (xgboost.XGBClassifier, lightgbm.LGBMClassifier)
GBM_REGRESSOR_TYPES = (xgboost.XGBRegressor, lightgbm.LGBMRegressor)

# Metadata keys the exporter writes itself; caller metadata may not override them.
RESERVED_METADATA_KEYS = frozenset(
    {"model_kind", "library", "library_version", "n_features", "class_labels", "output"}
)


def classifier_to_onnx(
    model: xgboost.XGBClassifier | lightgbm.LGBMClassifier,
    n_features: int,
    *,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Convert a fitted 3-class classifier to ONNX bytes with a ``[None, 3]`` probability output."""
    if not isinstance(model, GBM_CLASSIFIER_TYPES):
        raise InvalidInput(
            f"expected an XGBClassifier or LGBMClassifier; received {type(model).__name__}"
        )
    _check_fitted_width(model, n_features)
    _check_caller_metadata(metadata)
    n_classes = len(model.classes_)
    if n_classes != N_CLASSES:
        raise InvalidInput(
            f"expected a classifier over {N_CLASSES} classes (DOWN, FLAT, UP); "
            f"received {n_classes} classes"
        )
    onnx_model = _convert(model, n_features)
    _keep_single_output(onnx_model, source="probabilities", target=PROBABILITIES_OUTPUT)
    _write_metadata(
        onnx_model,
        model,
        n_features,
        kind="classifier",
        extra={"class_labels": "DOWN=0,FLAT=1,UP=2"},
        caller_metadata=metadata,
    )
    return _serialize(onnx_model)


def regressor_to_onnx(
    model: xgboost.XGBRegressor | lightgbm.LGBMRegressor,
    n_features: int,
    *,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Convert a fitted regressor to ONNX bytes with a ``[None, 1]`` prediction output."""
    if not isinstance(model, GBM_REGRESSOR_TYPES):
        raise InvalidInput(
            f"expected an XGBRegressor or LGBMRegressor; received {type(model).__name__}"
        )
    _check_fitted_width(model, n_features)
    _check_caller_metadata(metadata)
    onnx_model = _convert(model, n_features)
    _keep_single_output(onnx_model, source="variable", target=PREDICTION_OUTPUT)
    _write_metadata(
        onnx_model, model, n_features, kind="regressor", extra={}, caller_metadata=metadata
    )
    return _serialize(onnx_model)


def _check_fitted_width(
    model: xgboost.XGBModel | lightgbm.LGBMModel,
    n_features: int,
) -> None:
    fitted_width = getattr(model, "n_features_in_", None)
    if fitted_width is None:
        raise InvalidInput(f"expected a fitted model; received an unfitted {type(model).__name__}")
    if int(fitted_width) != n_features:
        raise InvalidInput(
            f"expected n_features={int(fitted_width)} (the model's training width); "
            f"received n_features={n_features}"
        )


def _convert(model: xgboost.XGBModel | lightgbm.LGBMModel, n_features: int) -> onnx.ModelProto:
    initial_types = [(INPUT_NAME, FloatTensorType([None, n_features]))]
    if isinstance(model, xgboost.XGBModel):
        if model.get_booster().feature_names is not None:
            model = copy.deepcopy(model)
            model.get_booster().feature_names = None
        return convert_xgboost(model, initial_types=initial_types, target_opset=TARGET_OPSET)
    converted = convert_lightgbm(
        model, initial_types=initial_types, target_opset=TARGET_OPSET, zipmap=False
    )
    _floor_lightgbm_thresholds(converted, model)
    return converted


def _floor_lightgbm_thresholds(onnx_model: onnx.ModelProto, model: lightgbm.LGBMModel) -> None:
    """Replace each split value the converter rounded *up* to float32 by the float32 just
    below it (``floor32`` of the double threshold; rule in the module docstring)."""
    floors: dict[tuple[int, float], set[float]] = {}
    for feature, threshold in _lightgbm_splits(model.booster_.dump_model()):
        nearest = np.float32(threshold)
        floor = nearest if float(nearest) <= threshold else np.nextafter(nearest, -np.inf)
        floors.setdefault((feature, float(nearest)), set()).add(float(floor))
    for node in onnx_model.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attributes = {a.name: a for a in node.attribute}
        features = attributes["nodes_featureids"].ints
        values = attributes["nodes_values"].floats
        for index, (feature, value) in enumerate(zip(features, values, strict=True)):
            choices = floors.get((int(feature), float(np.float32(value))))
            if choices is not None and len(choices) == 1:  # two doubles on either side: keep
                values[index] = next(iter(choices))


def _lightgbm_splits(dump: Mapping[str, Any]) -> Iterator[tuple[int, float]]:
    """``(feature, threshold)`` of every numerical split of a LightGBM model dump."""
    stack = [tree["tree_structure"] for tree in dump["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        if node.get("decision_type") == "<=":
            yield int(node["split_feature"]), float(node["threshold"])
        stack.extend((node["left_child"], node["right_child"]))


def _keep_single_output(onnx_model: onnx.ModelProto, *, source: str, target: str) -> None:
    graph = onnx_model.graph
    kept = [output for output in graph.output if output.name == source]
    if len(kept) != 1:
        names = [output.name for output in graph.output]
        raise InvalidInput(
            f"expected the converter to produce an output named {source!r}; received {names}"
        )
    output = copy.deepcopy(kept[0])
    if source != target:
        for node in graph.node:
            node.output[:] = [target if name == source else name for name in node.output]
        output.name = target
    del graph.output[:]
    graph.output.append(output)


def _check_caller_metadata(metadata: Mapping[str, str] | None) -> None:
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidInput(
                f"expected metadata as str -> str; received {type(key).__name__} -> "
                f"{type(value).__name__} for key {key!r}"
            )
        if key in RESERVED_METADATA_KEYS:
            raise InvalidInput(
                f"expected metadata keys other than {sorted(RESERVED_METADATA_KEYS)}; "
                f"received {key!r}"
            )


def _write_metadata(
    onnx_model: onnx.ModelProto,
    model: xgboost.XGBModel | lightgbm.LGBMModel,
    n_features: int,
    *,
    kind: str,
    extra: Mapping[str, str],
    caller_metadata: Mapping[str, str] | None,
) -> None:
    library = "xgboost" if isinstance(model, xgboost.XGBModel) else "lightgbm"
    library_version = xgboost.__version__ if library == "xgboost" else lightgbm.__version__
    entries = {
        "model_kind": kind,
        "library": library,
        "library_version": library_version,
        "n_features": str(n_features),
        "output": onnx_model.graph.output[0].name,
        **extra,
    }
    entries.update(caller_metadata or {})
    del onnx_model.metadata_props[:]
    onnx.helper.set_model_props(onnx_model, entries)
    onnx_model.doc_string = f"chainflow {library} {kind} over {n_features} float32 features"
    onnx_model.producer_name = "chainflow"


def _serialize(onnx_model: onnx.ModelProto) -> bytes:
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()
