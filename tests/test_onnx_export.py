"""The exported ONNX graph computes what the numpy model computes, in fp32 and int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from edge_moma.routing.bundle import load_session
from edge_moma.routing.features import bag_feed
from edge_moma.training.onnx_export import Dense, Head, build_embedding_bag, export_embedding_bag
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
    fp32 = load_session(paths["fp32"]).run(None, bag_feed(rows))  # one padded batch
    int8 = load_session(paths["int8"]).run(None, bag_feed(rows))
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
        batch = session.run(None, bag_feed(rows))
        for b, row in enumerate(rows):
            alone = session.run(None, bag_feed([row]))
            for got, want in zip(batch, alone, strict=True):
                np.testing.assert_array_equal(got[b], want[0])


def test_bag_feed_pads_under_a_mask() -> None:
    feed = bag_feed([np.array([7, 8, 9]), np.array([4])])
    np.testing.assert_array_equal(feed["indices"], [[7, 8, 9], [4, 0, 0]])
    np.testing.assert_array_equal(feed["mask"], [[1, 1, 1], [1, 0, 0]])
    assert feed["mask"].dtype == np.float32 and feed["indices"].dtype == np.int64
    np.testing.assert_array_equal(bag_feed([[5, 6]])["indices"], [[5, 6]])  # a plain list too
    for n in (3, 5000):  # one row: a view of a shared row of ones, or its own past 4096
        one = bag_feed([np.arange(n)])
        assert one["mask"].shape == (1, n) and one["mask"].all() and one["indices"].shape == (1, n)
    with pytest.raises(ValueError, match="at least one row"):
        bag_feed([])


def test_int8_model_is_smaller_and_names_outputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    emb = rng.normal(0, 0.1, (4096, 32)).astype(np.float32)
    head = Head("intent", rng.normal(0, 0.1, (32, 4)).astype(np.float32), np.zeros(4, np.float32))
    paths = export_embedding_bag(tmp_path / "x.onnx", emb, [], [head], metadata={"k": "v"})
    assert paths["int8"].stat().st_size < paths["fp32"].stat().st_size / 3
    model = onnx.load(str(paths["fp32"]))
    assert [o.name for o in model.graph.output] == ["intent"]
    assert {p.key: p.value for p in model.metadata_props} == {"k": "v"}
    no_int8 = export_embedding_bag(tmp_path / "y.onnx", emb, [], [head], quantize=False)
    assert set(no_int8) == {"fp32"}


def test_shape_and_name_errors() -> None:
    emb = np.zeros((16, 4), np.float32)
    good = Head("a", np.zeros((4, 2), np.float32), np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="at least one head"):
        build_embedding_bag(emb, [], [])
    with pytest.raises(ValueError, match="unique"):
        build_embedding_bag(emb, [], [good, good])
    with pytest.raises(ValueError, match="not 'indices' or 'mask'"):
        build_embedding_bag(emb, [], [Head("mask", good.weight, good.bias)])
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
    probs, values, indices = session.run(None, bag_feed([np.array([5, 9, 200], np.int64)]))
    best = np.argsort(-probs[0])[:3]
    assert indices[0].tolist() == best.tolist()
    np.testing.assert_allclose(values[0], probs[0][best])
