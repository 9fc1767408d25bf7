"""The exported ONNX graph computes what the numpy model computes, in fp32 and int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge_moma.errors import BundleError
from edge_moma.routing.bundle import bag_runner, load_session
from edge_moma.routing.features import bag_feed
from edge_moma.training.onnx_export import (
    POOL_NODE,
    POOLING_KEY,
    Dense,
    Head,
    build_embedding_bag,
    export_embedding_bag,
)
from edge_moma.training.trainer import EmbeddingBagModel


def _model(pooling: str, rng: np.random.Generator) -> EmbeddingBagModel:
    def arr(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.3, shape).astype(np.float32)

    return EmbeddingBagModel(
        embedding=arr(512, 8),
        layers=[Dense(arr(8, 16), arr(16), "relu"), Dense(arr(16, 12), arr(12), "none")],
        heads=[
            Head("cls", arr(12, 5), arr(5), "softmax"),
            Head("multi", arr(12, 3), arr(3), "sigmoid"),
            Head("score", arr(12, 2), arr(2), "linear"),
        ],
        pooling=pooling,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("pooling", ["mean", "sum", "sqrtn"])
def test_onnx_matches_numpy(tmp_path: Path, pooling: str) -> None:
    rng = np.random.default_rng(1)
    model = _model(pooling, rng)
    paths = model.export(tmp_path / "m.onnx")
    assert set(paths) == {"fp32", "int8"} and paths["int8"].name == "m.int8.onnx"
    rows = [np.array([3], np.int64), rng.integers(0, 512, 300).astype(np.int64)]
    expected = model.predict(np.concatenate(rows), np.array([0, 1, 301]))
    fp32 = load_session(paths["fp32"]).run(None, bag_feed(rows, pooling))  # one padded batch
    int8 = load_session(paths["int8"]).run(None, bag_feed(rows, pooling))
    for i, name in enumerate(["cls", "multi", "score"]):
        assert fp32[i].shape == (2, expected[name].shape[1])
        np.testing.assert_allclose(fp32[i], expected[name], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(int8[i], expected[name], rtol=0.05, atol=0.05)
    np.testing.assert_allclose(fp32[0].sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "sum", "sqrtn"])
def test_a_query_gets_the_same_bits_alone_or_in_any_batch(tmp_path: Path, pooling: str) -> None:
    """Padding adds exact zeros: the daemon's batching must not change a decision."""
    rng = np.random.default_rng(4)
    paths = _model(pooling, rng).export(tmp_path / "m.onnx")
    rows = [rng.integers(0, 512, n).astype(np.int64) for n in (1, 37, 5, 300, 12)]
    for variant in ("fp32", "int8"):
        session = load_session(paths[variant])
        batch = session.run(None, bag_feed(rows, pooling))
        for b, row in enumerate(rows):
            alone = session.run(None, bag_feed([row], pooling))
            for got, want in zip(batch, alone, strict=True):
                np.testing.assert_array_equal(got[b], want[0])


def test_bag_feed_pads_under_a_weight_of_zero() -> None:
    feed = bag_feed([np.array([7, 8, 9]), np.array([4])], "mean")
    np.testing.assert_array_equal(feed["indices"], [[7, 8, 9], [4, 0, 0]])
    np.testing.assert_allclose(feed["weights"], [[[1 / 3, 1 / 3, 1 / 3]], [[1, 0, 0]]])
    assert feed["weights"].dtype == np.float32 and feed["indices"].dtype == np.int64
    np.testing.assert_array_equal(bag_feed([[5, 6]], "sum")["indices"], [[5, 6]])  # a plain list
    np.testing.assert_allclose(bag_feed([[5, 6, 7, 8]], "sqrtn")["weights"], [[[0.5] * 4]])
    with pytest.raises(ValueError, match="at least one row"):
        bag_feed([], "mean")
    with pytest.raises(ValueError, match="pooling must be mean, sum or sqrtn, got 'max'"):
        bag_feed([[1]], "max")


def _as_mask_export(src: Path, dst: Path, pooling: str) -> Path:
    """``src`` as the release before the weights input exported it: a 0/1 mask, pooled in-graph."""
    model = onnx.load(str(src))
    graph = model.graph
    graph.input[1].CopyFrom(
        helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "length"])
    )
    nodes = list(graph.node)
    next(n for n in nodes if n.name == POOL_NODE).input[0] = "mask_3d"
    squeeze = next(n for n in nodes if n.op_type == "Squeeze")
    pooled = [helper.make_node("Unsqueeze", ["mask", "axis1"], ["mask_3d"])]
    if pooling != "sum":
        pooled.append(helper.make_node("ReduceSum", ["mask", "axis1"], ["n_f"], keepdims=1))
        squeeze.output[0] = "summed"
        if pooling == "sqrtn":
            pooled.append(helper.make_node("Sqrt", ["n_f"], ["sqrt_n"]))
        divisor = "sqrt_n" if pooling == "sqrtn" else "n_f"
        at = nodes.index(squeeze) + 1
        nodes.insert(at, helper.make_node("Div", ["summed", divisor], ["pooled"]))
    del graph.node[:]
    graph.node.extend(pooled + nodes)
    kept = [p for p in model.metadata_props if p.key != POOLING_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


@pytest.mark.parametrize("pooling", ["mean", "sum", "sqrtn"])
def test_a_model_exported_with_a_mask_still_loads_and_answers_the_same(
    tmp_path: Path, pooling: str
) -> None:
    """Bundles of the release before the weights input keep working on an upgraded device."""
    rng = np.random.default_rng(5)
    model = _model(pooling, rng)
    paths = model.export(tmp_path / "m.onnx")
    rows = [rng.integers(0, 512, n).astype(np.int64) for n in (1, 37, 300)]
    for variant in ("fp32", "int8"):
        old = _as_mask_export(paths[variant], tmp_path / f"old.{variant}.onnx", pooling)
        new_run = bag_runner(load_session(paths[variant]), "new")
        old_session = load_session(old)
        assert sorted(i.name for i in old_session.get_inputs()) == ["indices", "mask"]
        old_run = bag_runner(old_session, "old")
        names = ["cls", "multi", "score"]
        for batch in (rows, rows[1:2]):
            for got, want in zip(old_run(names, batch), new_run(names, batch), strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert EmbeddingBagModel.from_onnx(old).pooling == pooling  # a retrain warm-starts


@pytest.mark.parametrize("pooling", ["mean", "sum", "sqrtn"])
def test_the_pooling_is_named_in_the_model_and_read_back(tmp_path: Path, pooling: str) -> None:
    paths = _model(pooling, np.random.default_rng(6)).export(tmp_path / "m.onnx")
    for path in paths.values():
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props[POOLING_KEY] == pooling
        assert EmbeddingBagModel.from_onnx(path).pooling == pooling


def test_a_model_naming_no_known_pooling_is_refused(tmp_path: Path) -> None:
    path = _model("mean", np.random.default_rng(7)).export(tmp_path / "m.onnx", quantize=False)
    model = onnx.load(str(path["fp32"]))
    next(p for p in model.metadata_props if p.key == POOLING_KEY).value = "max"
    onnx.save(model, str(tmp_path / "bad.onnx"))
    with pytest.raises(
        BundleError, match="intent bundle x: .* pooling 'max', not mean, sum or sqrtn"
    ):
        bag_runner(load_session(tmp_path / "bad.onnx"), "intent bundle x")


def test_int8_model_is_smaller_and_names_outputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    emb = rng.normal(0, 0.1, (4096, 32)).astype(np.float32)
    head = Head("intent", rng.normal(0, 0.1, (32, 4)).astype(np.float32), np.zeros(4, np.float32))
    paths = export_embedding_bag(tmp_path / "x.onnx", emb, [], [head], metadata={"k": "v"})
    assert paths["int8"].stat().st_size < paths["fp32"].stat().st_size / 3
    model = onnx.load(str(paths["fp32"]))
    assert [o.name for o in model.graph.output] == ["intent"]
    assert {p.key: p.value for p in model.metadata_props} == {"k": "v", "pooling": "mean"}
    no_int8 = export_embedding_bag(tmp_path / "y.onnx", emb, [], [head], quantize=False)
    assert set(no_int8) == {"fp32"}


def test_shape_and_name_errors() -> None:
    emb = np.zeros((16, 4), np.float32)
    good = Head("a", np.zeros((4, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="at least one head"):
        build_embedding_bag(emb, [], [])
    with pytest.raises(ValueError, match="unique"):
        build_embedding_bag(emb, [], [good, good])
    with pytest.raises(ValueError, match="not 'indices' or 'weights'"):
        build_embedding_bag(emb, [], [Head("weights", good.weight, good.bias)])
    with pytest.raises(ValueError, match="do not fit"):
        build_embedding_bag(emb, [Dense(np.zeros((5, 3), np.float32), np.zeros(3))], [good])
    with pytest.raises(ValueError, match="pooling"):
        build_embedding_bag(emb, [], [good], pooling="max")  # type: ignore[arg-type]


def test_top_k_outputs_are_the_best_classes_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    emb = rng.normal(0, 1, (256, 8)).astype(np.float32)
    head = Head(
        "c", rng.normal(0, 1, (8, 10)).astype(np.float32), np.zeros(10, np.float32), top_k=3
    )
    path = export_embedding_bag(tmp_path / "t.onnx", emb, [], [head], quantize=False)["fp32"]
    session = load_session(path)
    assert [o.name for o in session.get_outputs()] == ["c", "c_top_values", "c_top_indices"]
    probs, values, indices = session.run(None, bag_feed([np.array([5, 9, 200], np.int64)], "mean"))
    best = np.argsort(-probs[0])[:3]
    assert indices[0].tolist() == best.tolist()
    np.testing.assert_allclose(values[0], probs[0][best])
