"""A numpy trainer for embedding-bag networks, the models ``onnx_export`` ships.

Why numpy and not a deep-learning framework: the model is a hashed n-gram
embedding table, a mean over a text's rows, one or two dense layers and some
heads; numpy trains it in seconds to minutes with no extra dependency, and the
same arrays go straight into the ONNX graph. The embedding table is updated
sparsely (lazy Adam: only the rows a batch touched), so a 2^16 x 64 table costs
per step what the batch's n-grams cost, not what the table costs.

Determinism: every random draw (init, shuffling, dropout) comes from one
``numpy.random.Generator`` seeded by ``TrainConfig.seed``, so the same data and
seed give the same weights and the same metrics.

Example (two heads sharing one body; -1 marks a row without a label)::

    flat, offsets = Featurizer().batch(texts)
    model = train_embedding_bag(
        flat, offsets, featurizer.n_buckets,
        [HeadData("intent", intent_ids, 151), HeadData("task", task_ids, 6)],
        TrainConfig(epochs=10, seed=0), progress=print,
    )
    probs = model.predict(flat, offsets)["intent"]      # numpy, batched
    model.export(out_dir / "intent.onnx")               # fp32 + int8 ONNX files
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .onnx_export import (
    POOLING_KEY,
    Dense,
    Head,
    HeadActivation,
    Pooling,
    export_embedding_bag,
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class HeadData:
    """Training targets of one head.

    ``softmax``: ``targets`` are class ids [n], -1 = no label for this row, or
    probability rows [n, K] (soft targets, e.g. a teacher's: used as given, no
    label smoothing or class weights).
    ``sigmoid`` (independent 0..1 outputs, binary cross-entropy) and ``linear``
    (squared error): ``targets`` are floats [n, K], NaN = missing.
    ``class_weight`` [K] reweights softmax classes (rare classes count more);
    ``loss_weight`` balances heads against each other; ``top_k`` is passed to
    the exported ``Head`` (extra best-k outputs).
    """

    name: str
    targets: np.ndarray
    n_outputs: int
    activation: HeadActivation = "softmax"
    class_weight: np.ndarray | None = None
    loss_weight: float = 1.0
    top_k: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; stored in the model card so a bundle can be rebuilt."""

    dim: int = 64
    hidden: tuple[int, ...] = (256,)
    pooling: Pooling = "mean"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    embedding_lr: float = 1e-2
    weight_decay: float = 1e-4
    feature_dropout: float = 0.2
    dropout: float = 0.2
    label_smoothing: float = 0.0
    max_row_features: int = 512
    init_scale: float = 0.1
    seed: int = 0

    def params(self) -> dict[str, object]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class EmbeddingBagModel:
    """Trained weights: run them in numpy (``predict``) or export them to ONNX."""

    embedding: np.ndarray
    layers: list[Dense]
    heads: list[Head]
    pooling: Pooling = "mean"
    history: list[dict[str, float]] = field(default_factory=list)

    def head(self, name: str) -> Head:
        return next(h for h in self.heads if h.name == name)

    def logits(
        self, flat: np.ndarray, offsets: np.ndarray, chunk: int = 1024
    ) -> dict[str, np.ndarray]:
        """Pre-activation head outputs for a CSR batch, e.g. to fit a temperature."""
        parts: dict[str, list[np.ndarray]] = {h.name: [] for h in self.heads}
        for lo in range(0, len(offsets) - 1, chunk):
            off = offsets[lo : lo + chunk + 1]
            rows = self.embedding[flat[off[0] : off[-1]]]
            x = np.add.reduceat(rows, off[:-1] - off[0], axis=0)
            x /= _pool_norm(np.diff(off), self.pooling)[:, None]
            for layer in self.layers:
                x = x @ layer.weight + layer.bias
                if layer.activation == "relu":
                    np.maximum(x, 0, out=x)
            for h in self.heads:
                parts[h.name].append(x @ h.weight + h.bias)
        return {name: np.concatenate(p) for name, p in parts.items()}

    def predict(self, flat: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
        """Head outputs (probabilities for softmax/sigmoid heads), the ONNX graph's math."""
        z = self.logits(flat, offsets)
        return {h.name: _activate(z[h.name], h.activation) for h in self.heads}

    def without(self, head_name: str) -> EmbeddingBagModel:
        """A copy without one head: a training-only target (e.g. a teacher's) is not exported."""
        return replace(self, heads=[h for h in self.heads if h.name != head_name])

    def with_temperature(self, head_name: str, temperature: float) -> EmbeddingBagModel:
        """A copy whose head divides its logits by ``temperature`` (folded into the weights)."""
        heads = [
            replace(h, weight=h.weight / temperature, bias=h.bias / temperature)
            if h.name == head_name
            else h
            for h in self.heads
        ]
        return replace(self, heads=heads)

    @classmethod
    def from_onnx(cls, path: str | Path) -> EmbeddingBagModel:
        """The weights of a model ``export`` wrote (fp32, or int8 with the table dequantized),
        e.g. to warm-start a retrain from the bundle devices run now."""
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        graph = model.graph
        w = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        if "embedding" in w:
            embedding = w["embedding"].astype(np.float32)
        else:
            q = w["embedding_quantized"].astype(np.float32)
            embedding = (q - float(w["embedding_zero_point"])) * float(w["embedding_scale"])
        ops = {o: n.op_type for n in graph.node for o in n.output}
        layers: list[Dense] = []
        while f"dense{len(layers)}_w" in w:
            i = len(layers)
            relu = f"dense{i}_relu" in ops
            layers.append(Dense(w[f"dense{i}_w"], w[f"dense{i}_b"], "relu" if relu else "none"))
        activation = {"Softmax": "softmax", "Sigmoid": "sigmoid", "Identity": "linear"}
        heads = [
            Head(
                o.name,
                w[f"{o.name}_head_w"],
                w[f"{o.name}_head_b"],
                activation[ops[o.name]],  # type: ignore[arg-type]
                int(w[f"{o.name}_k"][0]) if f"{o.name}_k" in w else 0,
            )
            for o in graph.output
            if f"{o.name}_head_w" in w
        ]
        meta = {p.key: p.value for p in model.metadata_props}
        if "n_f" in ops:  # exported before the weights input: the graph pooled itself
            pooling = "sqrtn" if "sqrt_n" in ops else "mean"
        else:
            pooling = meta.get(POOLING_KEY, "sum")
        return cls(embedding, layers, heads, pooling)  # type: ignore[arg-type]

    def export(
        self, path: str | Path, quantize: bool = True, metadata: dict[str, str] | None = None
    ) -> dict[str, Path]:
        """Write the ONNX model(s); see ``onnx_export.export_embedding_bag``."""
        return export_embedding_bag(
            path, self.embedding, self.layers, self.heads, self.pooling, quantize, metadata
        )


def _pool_norm(lens: np.ndarray, pooling: Pooling) -> np.ndarray:
    lens = np.maximum(lens, 1).astype(np.float32)
    if pooling == "mean":
        return lens
    if pooling == "sqrtn":
        return np.sqrt(lens)
    return np.ones_like(lens)


def _activate(z: np.ndarray, activation: HeadActivation) -> np.ndarray:
    if activation == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z


class _Adam:
    """AdamW on dense arrays, lazy Adam on embedding rows."""

    def __init__(self, shape: tuple[int, ...], b1: float = 0.9, b2: float = 0.999):
        self.m = np.zeros(shape, np.float32)
        self.v = np.zeros(shape, np.float32)
        self.b1, self.b2 = b1, b2

    def step(
        self,
        param: np.ndarray,
        grad: np.ndarray,
        lr: float,
        t: int,
        rows: np.ndarray | None = None,
        decay: float = 0.0,
    ) -> None:
        m, v = (self.m, self.v) if rows is None else (self.m[rows], self.v[rows])
        m = self.b1 * m + (1 - self.b1) * grad
        v = self.b2 * v + (1 - self.b2) * grad * grad
        update = lr * (m / (1 - self.b1**t)) / (np.sqrt(v / (1 - self.b2**t)) + 1e-8)
        if rows is None:
            self.m[...], self.v[...] = m, v
            if decay:
                param *= 1 - lr * decay
            param -= update
        else:
            self.m[rows], self.v[rows] = m, v
            param[rows] -= update


def _batch_rows(
    flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray, cap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``rows`` as (flat, row id per index); rows longer than ``cap`` are subsampled."""
    starts, lens = offsets[rows], offsets[rows + 1] - offsets[rows]
    take = np.minimum(lens, cap)
    row_id = np.repeat(np.arange(len(rows)), take)
    first = np.repeat(np.cumsum(take) - take, take)
    pos = np.arange(len(row_id)) - first  # position inside the row
    long = take < lens
    if long.any():  # a random subset of a long row's n-grams (unbiased for its mean)
        scale = np.repeat(np.where(long, lens / np.maximum(take, 1), 1.0), take)
        jitter = rng.random(len(pos))
        pos = np.where(np.repeat(long, take), ((pos + jitter) * scale).astype(np.int64), pos)
    return flat[np.repeat(starts, take) + pos], row_id


def train_embedding_bag(
    flat: np.ndarray,
    offsets: np.ndarray,
    n_buckets: int,
    heads: list[HeadData],
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    init: EmbeddingBagModel | None = None,
) -> EmbeddingBagModel:
    """Train an embedding bag + MLP with one output per ``HeadData`` on a CSR batch.

    ``flat``/``offsets`` are ``Featurizer.batch`` output (row i is
    ``flat[offsets[i]:offsets[i+1]]``, never empty). ``progress`` receives one
    line per epoch (loss, seconds). ``init`` warm-starts: its table, layers and
    the heads of the same name and width replace the random initial weights.
    """
    cfg = config or TrainConfig()
    rng = np.random.default_rng(cfg.seed)
    n = len(offsets) - 1
    for h in heads:
        if len(h.targets) != n:
            raise ValueError(f"head {h.name}: {len(h.targets)} targets for {n} rows")

    emb = (rng.standard_normal((n_buckets, cfg.dim)) * cfg.init_scale).astype(np.float32)
    widths = [cfg.dim, *cfg.hidden]
    dense_w = [
        (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
        for a, b in zip(widths[:-1], widths[1:], strict=True)
    ]
    dense_b = [np.zeros(b, np.float32) for b in widths[1:]]
    head_w = [
        (rng.standard_normal((widths[-1], h.n_outputs)) * np.sqrt(1.0 / widths[-1])).astype(
            np.float32
        )
        for h in heads
    ]
    head_b = [np.zeros(h.n_outputs, np.float32) for h in heads]
    if init is not None:
        emb, dense_w, dense_b = _warm_start(init, emb, dense_w, dense_b)
        for i, h in enumerate(heads):
            known = next((k for k in init.heads if k.name == h.name), None)
            if known is not None and known.weight.shape == head_w[i].shape:
                head_w[i] = known.weight.astype(np.float32).copy()
                head_b[i] = known.bias.astype(np.float32).copy()
    params = [*dense_w, *dense_b, *head_w, *head_b]
    opt_emb = _Adam(emb.shape)
    opts = [_Adam(p.shape) for p in params]
    n_dense_w = len(dense_w)

    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    history: list[dict[str, float]] = []
    t = 0
    for epoch in range(cfg.epochs):
        began = time.perf_counter()
        order = rng.permutation(n)
        loss_sum, loss_rows = 0.0, 0
        for start in range(0, n, cfg.batch_size):
            t += 1
            decay_lr = 1.0 - (t - 1) / total_steps  # linear decay to zero
            rows = order[start : start + cfg.batch_size]
            fb, row_id = _batch_rows(flat, offsets, rows, cfg.max_row_features, rng)
            b = len(rows)
            keep = (rng.random(len(fb)) >= cfg.feature_dropout).astype(np.float32)
            kept = np.bincount(row_id, weights=keep, minlength=b)
            w = keep / _pool_norm(kept, cfg.pooling)[row_id]
            seg = np.flatnonzero(np.diff(row_id, prepend=-1))  # row_id is sorted
            bag = np.add.reduceat(emb[fb] * w[:, None], seg, axis=0)

            acts, masks = [bag], []
            x = bag
            for wl, bl in zip(dense_w, dense_b, strict=True):
                x = np.maximum(x @ wl + bl, 0)
                mask = (rng.random(x.shape) >= cfg.dropout).astype(np.float32) / (1 - cfg.dropout)
                x = x * mask
                acts.append(x)
                masks.append(mask)

            gx = np.zeros_like(x)
            grads_hw, grads_hb = [], []
            for h, hw, hb in zip(heads, head_w, head_b, strict=True):
                z = x @ hw + hb
                loss, gz = _head_loss(h, z, rows, cfg.label_smoothing)
                loss_sum += loss * b
                grads_hw.append(x.T @ gz)
                grads_hb.append(gz.sum(axis=0))
                gx += gz @ hw.T
            grads_dw: list[np.ndarray] = []
            grads_db: list[np.ndarray] = []
            for i in range(len(dense_w) - 1, -1, -1):
                gx = gx * masks[i] * (acts[i + 1] > 0)
                grads_dw.insert(0, acts[i].T @ gx)
                grads_db.insert(0, gx.sum(axis=0))
                gx = gx @ dense_w[i].T
            loss_rows += b

            grads = [*grads_dw, *grads_db, *grads_hw, *grads_hb]
            for i, (p, g, o) in enumerate(zip(params, grads, opts, strict=True)):
                is_weight = i < n_dense_w or n_dense_w * 2 <= i < n_dense_w * 2 + len(heads)
                o.step(p, g, cfg.lr * decay_lr, t, decay=cfg.weight_decay if is_weight else 0.0)
            # Sum the gradient per touched bucket: sort, then reduce runs (np.add.at is slow).
            by_bucket = np.argsort(fb, kind="stable")
            sorted_fb = fb[by_bucket]
            runs = np.flatnonzero(np.diff(sorted_fb, prepend=-1))
            contrib = (gx[row_id] * w[:, None])[by_bucket]
            g_emb = np.add.reduceat(contrib, runs, axis=0)
            opt_emb.step(emb, g_emb, cfg.embedding_lr * decay_lr, t, rows=sorted_fb[runs])
        seconds = time.perf_counter() - began
        history.append({"epoch": epoch + 1, "loss": loss_sum / max(loss_rows, 1), "s": seconds})
        if progress:
            progress(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {history[-1]['loss']:.4f}  ({seconds:.1f} s)"
            )

    return EmbeddingBagModel(
        embedding=emb,
        layers=[Dense(wl, bl, "relu") for wl, bl in zip(dense_w, dense_b, strict=True)],
        heads=[
            Head(h.name, hw, hb, h.activation, h.top_k)
            for h, hw, hb in zip(heads, head_w, head_b, strict=True)
        ],
        pooling=cfg.pooling,
        history=history,
    )


def _warm_start(
    init: EmbeddingBagModel,
    emb: np.ndarray,
    dense_w: list[np.ndarray],
    dense_b: list[np.ndarray],
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Copies of ``init``'s table and layers, checked against the configured shapes."""
    shapes = [emb.shape, *(w.shape for w in dense_w)]
    given = [init.embedding.shape, *(layer.weight.shape for layer in init.layers)]
    if shapes != given:
        raise ValueError(f"warm start: the model has shapes {given}, the config wants {shapes}")
    return (
        init.embedding.astype(np.float32).copy(),
        [layer.weight.astype(np.float32).copy() for layer in init.layers],
        [layer.bias.astype(np.float32).copy() for layer in init.layers],
    )


def _head_loss(
    head: HeadData, z: np.ndarray, rows: np.ndarray, smoothing: float
) -> tuple[float, np.ndarray]:
    """Mean loss of one head over the batch and its gradient w.r.t. the logits."""
    b = len(rows)
    if head.activation == "softmax" and head.targets.ndim == 2:  # soft targets
        p = _activate(z, "softmax")
        q = head.targets[rows].astype(np.float32)
        scale = head.loss_weight / b
        return float(-(q * np.log(p + 1e-12)).sum() * scale), ((p - q) * scale).astype(np.float32)
    if head.activation == "softmax":
        y = head.targets[rows]
        labelled = y >= 0
        p = _activate(z, "softmax")
        q = np.zeros_like(p)
        if labelled.any():
            k = head.n_outputs
            q[labelled] = smoothing / k
            q[np.flatnonzero(labelled), y[labelled]] += 1.0 - smoothing
        weight = labelled.astype(np.float32)
        if head.class_weight is not None:
            weight[labelled] *= head.class_weight[y[labelled]]
        weight *= head.loss_weight / b
        loss = float(-(weight[:, None] * q * np.log(p + 1e-12)).sum())
        return loss, ((p - q) * weight[:, None]).astype(np.float32)
    y = head.targets[rows].astype(np.float32)
    present = ~np.isnan(y)
    y = np.where(present, y, 0.0)
    scale = head.loss_weight / max(int(present.sum()), 1)
    if head.activation == "sigmoid":
        p = _activate(z, "sigmoid")
        losses = -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
        g = p - y
    else:
        losses = (z - y) ** 2
        g = 2 * (z - y)
    return float((losses * present).sum() * scale), (g * present * scale).astype(np.float32)
