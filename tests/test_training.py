"""The numpy embedding-bag trainer learns, is deterministic, and masks missing targets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edge_moma.routing.features import Featurizer
from edge_moma.training.trainer import HeadData, TrainConfig, train_embedding_bag

WORDS = {
    "weather": ["rain", "sunny", "forecast", "umbrella", "cold", "wind"],
    "music": ["song", "play", "album", "guitar", "playlist", "volume"],
    "food": ["pizza", "recipe", "dinner", "cook", "salad", "lunch"],
}
SMALL = TrainConfig(dim=16, hidden=(32,), epochs=8, batch_size=16, seed=3)


def _data(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = list(WORDS)
    y = rng.integers(0, len(labels), n)
    texts = [" ".join(rng.choice(WORDS[labels[k]], 3)) + " please" for k in y]
    return texts, y


def test_learns_a_separable_task_and_is_deterministic() -> None:
    f = Featurizer(n_buckets=1 << 12)
    texts, y = _data(240, 0)
    flat, offsets = f.batch(texts)
    lines: list[str] = []
    a = train_embedding_bag(flat, offsets, f.n_buckets, [HeadData("c", y, 3)], SMALL, lines.append)
    b = train_embedding_bag(flat, offsets, f.n_buckets, [HeadData("c", y, 3)], SMALL)
    assert len(lines) == SMALL.epochs and lines[0].startswith("epoch 1/8")
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    np.testing.assert_array_equal(a.embedding, b.embedding)  # same data + seed -> same model
    test_texts, test_y = _data(90, 1)
    pred = a.predict(*f.batch(test_texts))["c"].argmax(axis=1)
    assert (pred == test_y).mean() > 0.9


def test_unlabelled_rows_and_other_head_kinds() -> None:
    f = Featurizer(n_buckets=1 << 12)
    texts, y = _data(200, 2)
    flat, offsets = f.batch(texts)
    partial = y.copy()
    partial[::2] = -1  # half the rows carry no class label
    multi = np.stack([(y == 0), (y == 1)], axis=1).astype(np.float32)
    multi[1::3, 0] = np.nan  # missing targets are skipped, not learned as 0
    score = (y.astype(np.float32) * 2.0)[:, None]
    heads = [
        HeadData("c", partial, 3),
        HeadData("m", multi, 2, activation="sigmoid"),
        HeadData("s", score, 1, activation="linear", loss_weight=0.1),
    ]
    model = train_embedding_bag(flat, offsets, f.n_buckets, heads, SMALL)
    out = model.predict(flat, offsets)
    assert (out["c"].argmax(axis=1) == y).mean() > 0.9
    assert ((out["m"][:, 0] > 0.5) == (y == 0)).mean() > 0.9
    assert np.abs(out["s"][:, 0] - score[:, 0]).mean() < 0.6
    hot = model.with_temperature("c", 2.0).predict(flat, offsets)["c"]
    assert hot.max(axis=1).mean() < out["c"].max(axis=1).mean()  # a softer distribution


def test_long_rows_are_subsampled_in_training() -> None:
    f = Featurizer(n_buckets=1 << 12)
    texts = ["rain " * 400, "song " * 400] * 10
    y = np.array([0, 1] * 10)
    flat, offsets = f.batch(texts)
    cfg = TrainConfig(dim=8, hidden=(8,), epochs=10, batch_size=4, max_row_features=64, seed=0)
    model = train_embedding_bag(flat, offsets, f.n_buckets, [HeadData("c", y, 2)], cfg)
    assert (model.predict(flat, offsets)["c"].argmax(axis=1) == y).all()


def test_soft_targets_match_smoothed_labels_and_a_head_can_be_dropped() -> None:
    f = Featurizer(n_buckets=1 << 12)
    texts, y = _data(160, 4)
    flat, offsets = f.batch(texts)
    smoothing = 0.1
    hard = train_embedding_bag(
        flat, offsets, f.n_buckets, [HeadData("c", y, 3)], replace(SMALL, label_smoothing=smoothing)
    )
    soft_targets = np.full((len(y), 3), smoothing / 3, dtype=np.float32)
    soft_targets[np.arange(len(y)), y] += 1 - smoothing
    aux = np.random.default_rng(0).standard_normal((len(y), 4)).astype(np.float32)
    heads = [HeadData("c", soft_targets, 3), HeadData("aux", aux, 4, activation="linear")]
    soft = train_embedding_bag(flat, offsets, f.n_buckets, heads[:1], SMALL)
    np.testing.assert_allclose(
        soft.predict(flat, offsets)["c"], hard.predict(flat, offsets)["c"], atol=1e-4
    )
    both = train_embedding_bag(flat, offsets, f.n_buckets, heads, SMALL)
    assert [h.name for h in both.without("aux").heads] == ["c"]
    assert set(both.without("aux").predict(flat, offsets)) == {"c"}


def test_a_warm_start_begins_from_the_given_weights() -> None:
    f = Featurizer(n_buckets=1 << 12)
    texts, y = _data(160, 5)
    flat, offsets = f.batch(texts)
    first = train_embedding_bag(flat, offsets, f.n_buckets, [HeadData("c", y, 3)], SMALL)
    # A tiny learning rate: the result is the starting point, whatever the seed.
    still = replace(SMALL, epochs=1, lr=1e-9, embedding_lr=1e-9, seed=99)
    heads = [HeadData("c", y, 3), HeadData("new", y, 3)]
    warm = train_embedding_bag(flat, offsets, f.n_buckets, heads, still, init=first)
    np.testing.assert_allclose(
        warm.predict(flat, offsets)["c"], first.predict(flat, offsets)["c"], atol=1e-4
    )
    assert (warm.predict(flat, offsets)["new"].argmax(axis=1) == y).mean() < 0.9  # random init
    with pytest.raises(ValueError, match="warm start: the model has shapes"):
        train_embedding_bag(flat, offsets, f.n_buckets, heads, replace(still, dim=8), init=first)
