"""Export an embedding-bag network to ONNX and quantize it to int8.

The graph takes the featurizer's hashed bucket ids, not a dense vector: feeding
ONNX Runtime a 2^16-wide dense input costs about a millisecond per query, while
a Gather of a few hundred rows costs microseconds. It takes a batch of texts,
padded to the longest (``features.bag_feed`` builds the feed)::

    indices  int64   [batch, length]     (Featurizer.indices of each text, padded)
    weights  float32 [batch, 1, length]  (each id's pooling weight, 0 for padding)
      -> Gather(embedding [buckets, D]) -> pool: weights[b, 1, length] @ rows[b, length, D]
      -> Dense layers (MatMul + Add + Relu)...
      -> one output per head: [batch, K] after softmax | sigmoid | linear

A batch exists so that a busy caller pays for one model run, not one per
query: the weights are read from memory once (a run at batch size 8 costs
about a quarter of eight runs at batch size 1 here). Padding adds exact zeros,
so a query's outputs do not depend on the batch it came in.

The pooling (mean | sum | sqrtn) is in the weights: 1/n, 1 or 1/sqrt(n) for
each of a text's n ids (``features.bag_feed``), named in the model's metadata
(``pooling``). A graph that counted the ids and divided itself ran three more
nodes, about a tenth of an intent-model run at batch size 1; models exported
that way (inputs ``indices`` and ``mask``) still load (``bundle.bag_runner``).

Any temperature calibration is folded into a head's weights, so the outputs
are final probabilities. ``quantize_int8`` applies ONNX Runtime's dynamic
quantization (int8 weights for the Gather table, optionally the MatMuls),
which is what makes a 2^16 x 64 table fit a few megabytes.

Example::

    paths = export_embedding_bag(
        out_dir / "intent.onnx", embedding,
        layers=[Dense(w1, b1, "relu")],
        heads=[Head("intent", w2, b2, "softmax")],
    )
    paths["int8"]  # out_dir / "intent.int8.onnx"

The value types (``Dense``, ``Head``) import without ``onnx``; the export
functions need the ``onnx`` package (``pip install edge-moma[train]``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._extras import require
from ..routing.features import POOLINGS

logger = logging.getLogger(__name__)

Activation = Literal["relu", "none"]
HeadActivation = Literal["softmax", "sigmoid", "linear"]
Pooling = Literal["mean", "sum", "sqrtn"]
INPUT_NAME = "indices"
WEIGHTS_NAME = "weights"
POOLING_KEY = "pooling"
POOL_NODE = "pool"
OPSET = 17


@dataclass(frozen=True)
class Dense:
    """A hidden layer ``activation(x @ weight + bias)``; weight is [in, out]."""

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation = "relu"


@dataclass(frozen=True)
class Head:
    """A named graph output ``activation(x @ weight + bias)``; weight is [in, K].

    ``top_k > 0`` adds two outputs, ``<name>_top_values`` [batch, k] and
    ``<name>_top_indices`` [batch, k] (int64, best first): fetching those instead of
    all K outputs saves the caller a sort in Python, which at batch size 1
    costs more than the TopK inside the graph.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray
    activation: HeadActivation = "softmax"
    top_k: int = 0


def build_embedding_bag(
    embedding: np.ndarray,
    layers: list[Dense],
    heads: list[Head],
    pooling: Pooling = "mean",
    metadata: dict[str, str] | None = None,
) -> Any:
    """The fp32 ``onnx.ModelProto`` of an embedding-bag network (see the module docstring)."""
    require("onnx", "train")
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not heads:
        raise ValueError("an embedding-bag model needs at least one head")
    if len({h.name for h in heads}) != len(heads) or {INPUT_NAME, WEIGHTS_NAME} & {
        h.name for h in heads
    }:
        raise ValueError(f"head names must be unique and not {INPUT_NAME!r} or {WEIGHTS_NAME!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be mean, sum or sqrtn, got {pooling!r}")
    width = embedding.shape[1]
    stack: list[Dense | Head] = [*layers, *heads]
    for i, layer in enumerate(stack):
        if layer.weight.shape[0] != width or layer.bias.shape != (layer.weight.shape[1],):
            raise ValueError(
                f"layer {i}: weight {layer.weight.shape} / bias {layer.bias.shape} "
                f"do not fit an input of width {width}"
            )
        if isinstance(layer, Dense):
            width = layer.weight.shape[1]

    inits = [
        numpy_helper.from_array(np.ascontiguousarray(embedding, np.float32), "embedding"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    # Pooling as weights[b, 1, L] @ rows[b, L, D]: ONNX Runtime's MatMul is about
    # twice as fast here as ReduceMean/ReduceSum over the rows (measured at
    # L=200, D=64), and a padded position adds an exact 0.
    nodes = [
        helper.make_node("Gather", ["embedding", INPUT_NAME], ["rows"], axis=0),
        helper.make_node("MatMul", [WEIGHTS_NAME, "rows"], ["pooled_3d"], name=POOL_NODE),
        helper.make_node("Squeeze", ["pooled_3d", "axis1"], ["pooled"]),
    ]

    x = "pooled"
    for i, layer in enumerate(layers):
        x = _linear(nodes, inits, x, f"dense{i}", layer.weight, layer.bias)
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [x], [f"dense{i}_relu"]))
            x = f"dense{i}_relu"
    outputs = []
    for head in heads:
        z = _linear(nodes, inits, x, f"{head.name}_head", head.weight, head.bias)
        if head.activation == "softmax":
            nodes.append(helper.make_node("Softmax", [z], [head.name], axis=-1))
        elif head.activation == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", [z], [head.name]))
        elif head.activation == "linear":
            nodes.append(helper.make_node("Identity", [z], [head.name]))
        else:
            raise ValueError(f"head {head.name}: unknown activation {head.activation!r}")
        outputs.append(
            helper.make_tensor_value_info(
                head.name, TensorProto.FLOAT, ["batch", head.weight.shape[1]]
            )
        )
        if head.top_k > 0:
            k = min(head.top_k, head.weight.shape[1])
            inits.append(numpy_helper.from_array(np.array([k], np.int64), f"{head.name}_k"))
            top = [f"{head.name}_top_values", f"{head.name}_top_indices"]
            nodes.append(helper.make_node("TopK", [head.name, f"{head.name}_k"], top, axis=-1))
            outputs.append(helper.make_tensor_value_info(top[0], TensorProto.FLOAT, ["batch", k]))
            outputs.append(helper.make_tensor_value_info(top[1], TensorProto.INT64, ["batch", k]))
    graph = helper.make_graph(
        nodes,
        "embedding_bag",
        [
            helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info(WEIGHTS_NAME, TensorProto.FLOAT, ["batch", 1, "length"]),
        ],
        outputs,
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edge-moma"
    )
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    for key, value in {**(metadata or {}), POOLING_KEY: pooling}.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model


def _linear(nodes: list, inits: list, x: str, name: str, w: np.ndarray, b: np.ndarray) -> str:
    from onnx import helper, numpy_helper

    inits.append(numpy_helper.from_array(np.ascontiguousarray(w, np.float32), f"{name}_w"))
    inits.append(numpy_helper.from_array(np.ascontiguousarray(b, np.float32), f"{name}_b"))
    nodes.append(helper.make_node("MatMul", [x, f"{name}_w"], [f"{name}_mm"]))
    nodes.append(helper.make_node("Add", [f"{name}_mm", f"{name}_b"], [f"{name}_z"]))
    return f"{name}_z"


def quantize_int8(
    src: str | Path, dst: str | Path, op_types: tuple[str, ...] = ("Gather",)
) -> Path:
    """Dynamic int8 quantization of ``src`` into ``dst`` (ONNX Runtime ``quantize_dynamic``).

    By default only the Gather table is quantized: it is nearly all of the
    file, while int8 MatMuls on [1, 64] x [64, 256] are slower than fp32 at
    batch size 1 (the per-query activation quantization costs more than it
    saves). Pass ``op_types=("Gather", "MatMul")`` to quantize the dense layers
    too. The pooling MatMul (no weights) is never quantized. The accuracy cost
    is measured by the caller against the fp32 model.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(op_types),
        nodes_to_exclude=[POOL_NODE],
        per_channel=False,
    )
    return Path(dst)


def export_embedding_bag(
    path: str | Path,
    embedding: np.ndarray,
    layers: list[Dense],
    heads: list[Head],
    pooling: Pooling = "mean",
    quantize: bool = True,
    metadata: dict[str, str] | None = None,
    quantize_ops: tuple[str, ...] = ("Gather",),
) -> dict[str, Path]:
    """Write the fp32 model to ``path`` and, if ``quantize``, its int8 twin.

    The int8 file sits next to it as ``<stem>.int8.onnx``. Returns
    ``{"fp32": path, "int8": int8_path}`` (no ``"int8"`` key without quantize).
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_embedding_bag(embedding, layers, heads, pooling, metadata), str(path))
    paths = {"fp32": path}
    if quantize:
        int8_path = path.with_name(f"{path.stem}.int8.onnx")
        paths["int8"] = quantize_int8(path, int8_path, quantize_ops)
    logger.info("exported %s", ", ".join(f"{k}={v}" for k, v in paths.items()))
    return paths
