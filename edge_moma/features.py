"""Deterministic text -> hashed n-gram indices, shared by training and serving.

Why hashed indices and not a dense vector: ONNX Runtime is fed the bucket ids
and does the embedding-bag itself (Gather + mean), which costs tens of
microseconds where a dense 2^16-wide input costs a millisecond.

The hashing is done in numpy on the text's code points (a polynomial hash with
a 64-bit finaliser), so it is the same on every machine and every run, unlike
Python's salted ``hash()``.

Text rules (documented in the README, part of ``FEATURIZER_VERSION``):

1. Unicode NFKC, then lower case, then runs of whitespace become one space.
2. Texts longer than ``max_chars`` keep their first and last ``max_chars // 2``
   characters (the head says what kind of text it is; the tail holds the
   question of few-shot prompts).
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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import BundleError

FEATURIZER_VERSION = 1

_P = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_P_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_WORD_SALT = np.uint64(0x9E3779B97F4A7C15)
_SPACE = re.compile(r"\s+")

# ASCII code points that separate words: everything that is not a letter or digit.
_ASCII_SEPARATOR = np.array(
    [not chr(i).isalnum() for i in range(128)] + [False], dtype=bool
)


def _mix(h: np.ndarray) -> np.ndarray:
    """64-bit finaliser (MurmurHash3 fmix64): spreads similar n-grams apart."""
    h ^= h >> _S33
    h *= _MIX1
    h ^= h >> _S33
    h *= _MIX2
    h ^= h >> _S33
    return h


def normalize(text: str, max_chars: int) -> str:
    """Apply text rules 1 and 2 (see the module docstring)."""
    if len(text) > 4 * max_chars:  # bound the work NFKC does on huge inputs
        text = text[: 2 * max_chars] + " " + text[-2 * max_chars :]
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + " " + text[-half:]
    return text


@dataclass(frozen=True)
class Featurizer:
    """Hashed word and character n-gram featurizer; its fields go in a model card."""

    n_buckets: int = 1 << 18
    char_ngrams: tuple[int, ...] = (2, 3, 4, 5)
    word_ngrams: tuple[int, ...] = (1, 2)
    max_chars: int = 2048
    version: int = FEATURIZER_VERSION
    _pow: np.ndarray = field(init=False, repr=False, compare=False)
    _inv_pow: np.ndarray = field(init=False, repr=False, compare=False)

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

    def params(self) -> dict[str, Any]:
        """The parameters to store in a model card."""
        d = asdict(self)
        d.pop("_pow", None)
        d.pop("_inv_pow", None)
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
        padded = " " + normalize(text, self.max_chars) + " "
        codes = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        length = len(codes)
        # prefix[i] = sum_{j<i} codes[j] * P**j, so any span's hash is one
        # subtraction and one multiplication by the inverse power of its start.
        prefix = np.zeros(length + 1, dtype=np.uint64)
        np.cumsum(codes * self._pow[:length], out=prefix[1:])
        parts = [np.zeros(1, dtype=np.uint64)]  # the constant feature
        for n in self.char_ngrams:
            if length >= n:
                parts.append((prefix[n:] - prefix[:-n]) * self._inv_pow[: length - n + 1])
        parts.extend(self._word_hashes(codes, prefix))
        h = _mix(np.concatenate(parts))
        return (h & np.uint64(self.n_buckets - 1)).astype(np.int64)

    def _word_hashes(self, codes: np.ndarray, prefix: np.ndarray) -> list[np.ndarray]:
        is_word = np.zeros(len(codes) + 2, dtype=np.int8)
        is_word[1:-1] = ~_ASCII_SEPARATOR[np.minimum(codes, 128)]
        edges = np.diff(is_word)
        starts = np.flatnonzero(edges == 1)
        if not len(starts):
            return []
        ends = np.flatnonzero(edges == -1)
        # The word's own hash, shifted out of the char n-gram space by its length.
        words = (prefix[ends] - prefix[starts]) * self._inv_pow[starts] + _WORD_SALT * (
            ends - starts
        ).astype(np.uint64)
        out = []
        if 1 in self.word_ngrams:
            out.append(words)
        if 2 in self.word_ngrams and len(words) > 1:
            out.append(words[:-1] * _MIX1 + words[1:])
        return out

    def batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Indices of many texts as one flat array plus offsets (CSR rows)."""
        rows = [self.indices(t) for t in texts]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        return flat, offsets
