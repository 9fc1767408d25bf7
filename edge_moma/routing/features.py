"""Deterministic text -> hashed n-gram indices, shared by training and serving.

Why hashed indices and not a dense vector: ONNX Runtime is fed the bucket ids
and does the embedding-bag itself (Gather + mean), which costs tens of
microseconds where a dense 2^16-wide input costs a millisecond.

The hashing is done on the text's code points (a polynomial hash modulo 2^64,
then Fibonacci hashing: the top bits of ``h * 0x9E37...``), so it is the same
on every machine and every run, unlike Python's salted ``hash()``. A small C
extension (``_ngrams.c``, compiled at install when a compiler is present)
computes it in a few microseconds; without it ``numpy_indices`` gives the same
ids with a couple of dozen numpy calls (tens of microseconds a query).

Text rules (documented in the README, part of ``FEATURIZER_VERSION``):

1. Unicode NFKC, then lower case, then runs of whitespace become one space
   (leading and trailing whitespace is dropped).
2. Texts longer than ``max_chars`` (default 256) keep their first and last
   ``max_chars // 2`` characters, joined by a space (the head says what kind of
   text it is; the tail holds the question of few-shot prompts). 256 serves
   both routers with one featurization: every CLINC150 query is shorter, and in
   5-fold CV on RouterBench the quality predictor did as well as with 2048
   (AIQ 0.8470 against 0.8468) at a quarter of the featurizing time. Inputs longer
   than ``4 * max_chars`` are first cut to their first and last ``2 * max_chars``
   characters so a 100 kB input costs no more than a 16 kB one.
3. Features: one constant feature (so no text is featureless), word 1- and
   2-grams (words are runs of ASCII letters/digits or of any non-ASCII code
   point), and character n-grams of the text padded with a space at each end.

Example::

    >>> f = Featurizer()
    >>> ids = f.indices("what's 15% of 80")
    >>> ids.dtype, int(ids.max()) < f.n_buckets
    (dtype('int64'), True)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import BundleError


def _c_hashing() -> tuple[Callable[..., bytes] | None, Callable[..., bytes | None] | None]:
    """The C hashing (``_ngrams.c``), built at install where a compiler is present.

    ``hash_ngrams`` takes a normalized, padded text; ``hash_ascii`` normalizes an
    ASCII text itself (the Python string work was a third of a featurization).
    """
    try:
        from ._ngrams import hash_ascii, hash_ngrams
    except ImportError:  # pragma: no cover - the numpy path gives the same ids, slower
        return None, None
    return hash_ngrams, hash_ascii


_hash_ngrams, _hash_ascii = _c_hashing()

FEATURIZER_VERSION = 2

_P = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_P_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: keep the top bits of h * _MIX
_WORD_SALT = np.uint64(0xC4CEB9FE1A85EC53)
_BIGRAM = np.uint64(0xFF51AFD7ED558CCD)
_CACHED_LENGTHS = 512
_ZERO = np.zeros(1, dtype=np.uint64)  # span layouts of texts up to this length are computed once
_INT64 = np.dtype(np.int64)  # a dtype object: np.frombuffer resolves np.int64 at each call

# A word: a run of ASCII letters and digits or of any non-ASCII code points.
_WORD = re.compile("[0-9a-zA-Z\u0080-\U0010ffff]+")


def normalize(text: str, max_chars: int) -> str:
    """Apply text rules 1 and 2 (see the module docstring)."""
    if len(text) > 4 * max_chars:  # bound the work NFKC does on huge inputs
        text = text[: 2 * max_chars] + " " + text[len(text) - 2 * max_chars :]
    if not text.isascii():  # NFKC leaves ASCII unchanged; skip its cost for most queries
        text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.lower().split())
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + " " + text[len(text) - half :]  # not [-half:]: half may be 0
    return text


@dataclass(frozen=True)
class Featurizer:
    """Hashed word and character n-gram featurizer; its fields go in a model card."""

    n_buckets: int = 1 << 16
    char_ngrams: tuple[int, ...] = (2, 3, 4, 5)
    word_ngrams: tuple[int, ...] = (1, 2)
    max_chars: int = 256
    version: int = FEATURIZER_VERSION
    _pow: np.ndarray = field(init=False, repr=False, compare=False)
    _inv_pow: np.ndarray = field(init=False, repr=False, compare=False)
    _spans: dict[int, tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False, compare=False)
    _shift: np.uint64 = field(init=False, repr=False, compare=False)
    _orders: bytes = field(init=False, repr=False, compare=False)
    _words: tuple[bool, bool] = field(init=False, repr=False, compare=False)
    _hash_args: tuple[bytes, bool, bool, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.n_buckets <= 0 or self.n_buckets & (self.n_buckets - 1):
            raise ValueError(f"n_buckets must be a power of two, got {self.n_buckets}")
        if not set(self.word_ngrams) <= {1, 2}:
            raise ValueError(f"word_ngrams may hold 1 and 2, got {self.word_ngrams}")
        n = self.max_chars + 3
        powers = np.cumprod(np.full(n, _P, dtype=np.uint64))
        inv = np.cumprod(np.full(n, _P_INV, dtype=np.uint64))
        one = np.ones(1, dtype=np.uint64)
        object.__setattr__(self, "_pow", np.concatenate([one, powers[:-1]]))
        object.__setattr__(self, "_inv_pow", np.concatenate([one, inv[:-1]]))
        object.__setattr__(self, "_spans", {})
        object.__setattr__(self, "_shift", np.uint64(64 - self.n_buckets.bit_length() + 1))
        if not all(1 <= n <= 16 for n in self.char_ngrams):
            raise ValueError(f"char_ngrams must be in 1..16, got {self.char_ngrams}")
        object.__setattr__(self, "_orders", bytes(self.char_ngrams))
        object.__setattr__(self, "_words", (1 in self.word_ngrams, 2 in self.word_ngrams))
        # The C hashing's arguments after the text, built once: a per-call unpack
        # and np.uint64 -> int conversion cost about 0.4 us of a 6 us featurization.
        object.__setattr__(self, "_hash_args", (self._orders, *self._words, int(self._shift)))

    def params(self) -> dict[str, Any]:
        """The parameters to store in a model card."""
        d = asdict(self)
        for private in ("_pow", "_inv_pow", "_spans", "_shift", "_orders", "_words", "_hash_args"):
            d.pop(private, None)
        d["char_ngrams"] = list(self.char_ngrams)
        d["word_ngrams"] = list(self.word_ngrams)
        return d

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Featurizer:
        """Rebuild the featurizer a model was trained with; refuse other versions."""
        version = params.get("version")
        if version != FEATURIZER_VERSION:
            raise BundleError(
                f"the model was built for featurizer version {version}, this edge-moma "
                f"has version {FEATURIZER_VERSION}; rebuild the model with this version "
                "(scripts/build_models.py) or install the edge-moma it was built with"
            )
        try:
            return cls(
                n_buckets=int(params["n_buckets"]),
                char_ngrams=tuple(int(n) for n in params["char_ngrams"]),
                word_ngrams=tuple(int(n) for n in params["word_ngrams"]),
                max_chars=int(params["max_chars"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"invalid featurizer parameters {params!r}: {exc}") from exc

    def indices(self, text: str) -> np.ndarray:
        """Bucket ids (int64, with repeats) of one text; never empty."""
        if _hash_ascii is not None:
            raw = _hash_ascii(text, *self._hash_args, self.max_chars)
            if raw is not None:  # None: not ASCII, normalized in Python
                return np.frombuffer(raw, _INT64)
        padded = " " + normalize(text, self.max_chars) + " "
        if _hash_ngrams is not None:
            return np.frombuffer(_hash_ngrams(padded, *self._hash_args), _INT64)
        return self.numpy_indices(padded)

    def numpy_indices(self, padded: str) -> np.ndarray:
        """``indices`` of an already normalized, padded text, in numpy (the portable path)."""
        codes = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        length = len(codes)
        # prefix[i] = sum_{j<i} codes[j] * P**j, so any span's hash is one
        # subtraction and one multiplication by the inverse power of its start.
        prefix = np.zeros(length + 1, dtype=np.uint64)
        np.cumsum(codes * self._pow[:length], out=prefix[1:])
        starts, ends = self._char_spans(length)
        # Python's regex engine finds a short text's words faster than numpy calls can.
        bounds = [i for m in _WORD.finditer(padded) for i in m.span()]
        n_chars, n_words = len(starts), len(bounds) // 2
        if n_words:
            w = np.array(bounds, dtype=np.int64)
            w_starts, w_ends = w[0::2], w[1::2]
            starts = np.concatenate([starts, w_starts])
            ends = np.concatenate([ends, w_ends])
        h = (prefix[ends] - prefix[starts]) * self._inv_pow[starts]
        parts = [_ZERO, h]  # _ZERO: the constant feature
        if n_words:
            # A word's own hash, moved out of the char n-gram space by a salt per length.
            words = h[n_chars:]
            words += _WORD_SALT * (w_ends - w_starts).astype(np.uint64)
            if 1 not in self.word_ngrams:
                parts[1] = h[:n_chars]
            if 2 in self.word_ngrams and n_words > 1:
                parts.append(words[:-1] * _BIGRAM + words[1:])
        else:
            parts[1] = h[:n_chars]
        out = np.concatenate(parts) * _MIX
        out >>= self._shift
        return out.view(np.int64)

    def _char_spans(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Start and end offsets of every char n-gram of a padded text of ``length``."""
        spans = self._spans.get(length)
        if spans is None:
            ns = [n for n in self.char_ngrams if n <= length]
            starts = np.concatenate(
                [np.arange(length - n + 1) for n in ns] or [np.zeros(0, np.int64)]
            )
            ends = starts + np.repeat(ns, [length - n + 1 for n in ns]).astype(np.int64)
            spans = (starts, ends)
            if length <= _CACHED_LENGTHS:
                self._spans[length] = spans
        return spans

    def batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Indices of many texts as one flat array plus offsets (CSR rows)."""
        rows = [self.indices(t) for t in texts]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return flat, offsets


# One query's weights are a cached array per pooling and length: ONNX Runtime
# took 5-7 us longer a run on a freshly allocated array than on one it had seen,
# and building the row costs about a microsecond.
_CACHED_ROWS = 4096
_WEIGHTS: dict[tuple[str, int], np.ndarray] = {}
POOLINGS = ("mean", "sum", "sqrtn")  # what an embedding-bag model's metadata may name


def pooling_weights(counts: np.ndarray, pooling: str) -> np.ndarray:
    """Each id's weight for texts of ``counts`` ids: 1/n (mean), 1/sqrt(n) (sqrtn) or 1 (sum)."""
    n = np.maximum(counts, 1).astype(np.float32)
    if pooling == "mean":
        return np.float32(1.0) / n
    if pooling == "sqrtn":
        return np.float32(1.0) / np.sqrt(n)
    if pooling == "sum":
        return np.ones_like(n)
    raise ValueError(f"pooling must be mean, sum or sqrtn, got {pooling!r}")


def bag_feed(rows: Sequence[np.ndarray], pooling: str) -> dict[str, np.ndarray]:
    """The ONNX feed of an embedding-bag model for one or more texts' ``indices``.

    Rows are padded to the longest with id 0 under a weight of 0 (``onnx_export``
    says why the graph takes batches and why the pooling is in the weights); one
    row needs no padding.
    """
    if not rows:
        raise ValueError("bag_feed needs at least one row of indices")
    if len(rows) == 1:
        row = np.asarray(rows[0], dtype=_INT64)  # no copy for Featurizer.indices
        n = len(row)
        weights = _WEIGHTS.get((pooling, n))
        if weights is None:
            weights = np.full((1, 1, n), pooling_weights(np.array([n]), pooling)[0], np.float32)
            if n <= _CACHED_ROWS:
                weights.setflags(write=False)
                _WEIGHTS[pooling, n] = weights
        return {"indices": row[None], "weights": weights}
    lengths = [len(r) for r in rows]
    shape = (len(rows), max(lengths))
    indices, weights = np.zeros(shape, np.int64), np.zeros((shape[0], 1, shape[1]), np.float32)
    for b, (row, n, w) in enumerate(
        zip(rows, lengths, pooling_weights(np.array(lengths), pooling), strict=True)
    ):
        indices[b, :n] = row
        weights[b, 0, :n] = w
    return {"indices": indices, "weights": weights}


def mask_feed(rows: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The feed of a model exported before the weights input: ids and a 0/1 mask [batch, length]."""
    feed = bag_feed(rows, "sum")
    return {"indices": feed["indices"], "mask": feed["weights"][:, 0, :]}
