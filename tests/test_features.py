"""The featurizer: deterministic, Unicode-safe, bounded on huge inputs, versioned."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_moma.errors import BundleError
from edge_moma.routing import features
from edge_moma.routing.features import FEATURIZER_VERSION, Featurizer, bag_feed, normalize

ODD_TEXTS = [
    "",
    " ",
    "\n\t  \r\n",
    "a",
    "😀",
    "😀😀😀 🚀 ok",
    "Привет, как дела? 日本語のテキスト مرحبا",
    "e\u0301 combining accent",
    "\ud83d lone surrogate",
    "\x00\x01 control chars",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ",
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_texts_give_features_in_range(text: str) -> None:
    f = Featurizer(n_buckets=1 << 12)
    ids = f.indices(text)
    assert ids.dtype == np.int64
    assert len(ids) >= 1  # the constant feature: no text is featureless
    assert ids.min() >= 0 and ids.max() < f.n_buckets


def test_same_text_same_features_across_instances() -> None:
    text = "Set an alarm for 7 am, please 😀"
    a, b = Featurizer(), Featurizer()
    np.testing.assert_array_equal(a.indices(text), b.indices(text))
    np.testing.assert_array_equal(a.indices(text), a.indices(text))


def test_known_hashes_are_stable() -> None:
    """Pin the output: a change here must bump FEATURIZER_VERSION."""
    ids = Featurizer(n_buckets=1 << 16).indices("set an alarm")
    assert FEATURIZER_VERSION == 2
    assert len(ids) == 1 + (13 + 12 + 11 + 10) + 3 + 2  # const + char 2..5 + words + bigrams
    assert ids[:5].tolist() == [0, 25381, 51363, 10969, 2336]
    assert int(ids.sum()) == 1667369


def test_normalization_rules() -> None:
    assert normalize("  Hello\t\nWORLD  ", 100) == "hello world"
    assert normalize("ｆｕｌｌ", 100) == "full"  # NFKC
    f = Featurizer()
    np.testing.assert_array_equal(f.indices("Hello  World"), f.indices("hello world"))


def test_long_inputs_are_truncated_head_and_tail() -> None:
    text = "start " + "x" * 100_000 + " end"
    out = normalize(text, 2048)
    assert len(out) == 2048 + 1
    assert out.startswith("start ") and out.endswith(" end")
    ids = Featurizer().indices(text)
    assert len(ids) < 5 * 2100  # bounded by max_chars, not by the input


def test_100kb_of_emoji_and_mixed_scripts() -> None:
    text = ("😀 日本 abc " * 12_000)[:100_000]
    ids = Featurizer().indices(text)
    assert 0 < len(ids) < 5 * 2100


def test_word_features_differ_from_char_ngrams() -> None:
    """The word 'ab' and the char bigram 'ab' must not share a bucket by construction."""
    f = Featurizer(n_buckets=1 << 20, char_ngrams=(2,), word_ngrams=(1,))
    ids = f.indices("ab")  # padded ' ab ': char ' a', 'ab', 'b ' + word 'ab' + const
    assert len(ids) == 5
    assert len(set(ids.tolist())) == 5


def test_batch_is_rows_of_indices() -> None:
    f = Featurizer(n_buckets=1 << 12)
    texts = ["one", "", "three words here"]
    flat, offsets = f.batch(texts)
    assert offsets.tolist()[0] == 0 and offsets[-1] == len(flat)
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(flat[offsets[i] : offsets[i + 1]], f.indices(t))


def test_params_round_trip_and_version_mismatch() -> None:
    f = Featurizer(n_buckets=1 << 14, char_ngrams=(3, 4), max_chars=512)
    assert Featurizer.from_params(f.params()) == f
    with pytest.raises(BundleError, match="featurizer version 1"):
        Featurizer.from_params({**f.params(), "version": 1})
    with pytest.raises(BundleError, match="invalid featurizer parameters"):
        Featurizer.from_params({"version": FEATURIZER_VERSION, "n_buckets": 1024})


def test_c_hashing_is_built_by_the_install() -> None:
    """The documented install compiles edge_moma/_ngrams.c; without it routing is slower."""
    assert features._hash_ngrams is not None


FEATURIZERS = [
    Featurizer(),
    Featurizer(n_buckets=1 << 12, char_ngrams=(1, 3), word_ngrams=(2,)),
    Featurizer(char_ngrams=(5, 2), word_ngrams=(1,)),
    Featurizer(char_ngrams=(), word_ngrams=(1, 2)),
]


@pytest.mark.parametrize("f", FEATURIZERS, ids=lambda f: f"{f.char_ngrams}-{f.word_ngrams}")
def test_c_and_numpy_hashing_give_the_same_ids(f: Featurizer) -> None:
    rng = np.random.default_rng(0)
    # Random texts over ASCII, Latin-1, CJK, emoji and lone surrogates, 0-600 chars.
    alphabet = [chr(c) for c in [*range(32, 127), 0xE9, 0x4E2D, 0x1F600, 0xD83D, 0x0301]]
    texts = ODD_TEXTS + [
        "".join(rng.choice(alphabet, size=int(rng.integers(0, 600)))) for _ in range(200)
    ]
    for text in texts:
        padded = " " + normalize(text, f.max_chars) + " "
        np.testing.assert_array_equal(f.indices(text), f.numpy_indices(padded), err_msg=text)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Featurizer(n_buckets=1000)
    with pytest.raises(ValueError, match="word_ngrams"):
        Featurizer(word_ngrams=(3,))
    with pytest.raises(ValueError, match="char_ngrams"):
        Featurizer(char_ngrams=(0, 3))


def test_c_hashing_normalizes_ascii_itself() -> None:
    """``indices`` hands an ASCII text to C whole; a non-ASCII one is normalized in Python."""
    assert features._hash_ascii is not None
    f = Featurizer()
    assert features._hash_ascii("Ünïcode", *f._hash_args, f.max_chars) is None
    assert features._hash_ascii("ascii", *f._hash_args, f.max_chars) is not None
    # max_chars below 2 is left to Python, which keeps max_chars // 2 = 0 characters of
    # each end (text[-0:] would have kept the whole text, past the featurizer's bound)
    assert features._hash_ascii("ascii", *f._hash_args, 1) is None
    tiny = Featurizer(max_chars=1)
    padded = " " + normalize("Ab cd", 1) + " "
    assert padded == "   "
    assert features._hash_ngrams is not None
    expected = features._hash_ngrams(padded, *tiny._hash_args)
    np.testing.assert_array_equal(tiny.indices("Ab cd"), np.frombuffer(expected, np.int64))
    np.testing.assert_array_equal(tiny.numpy_indices(padded), tiny.indices("Ab cd"))


# Every ASCII code point, with str.split()'s whitespace (\t-\r, \x1c-\x1f, space) and
# upper case letters more often than chance, so runs and case folding get exercised.
_ASCII = st.text(
    st.one_of(
        st.characters(max_codepoint=127),
        st.sampled_from(" \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"),
        st.sampled_from("ABCXYZ"),
    ),
    max_size=1200,
)


@settings(max_examples=300, deadline=None)
@given(text=_ASCII, max_chars=st.sampled_from([2, 3, 5, 8, 64, 256]))
def test_c_normalization_of_ascii_equals_the_python_rules(text: str, max_chars: int) -> None:
    f = Featurizer(max_chars=max_chars, char_ngrams=(1, 2, 5))
    expected = f.numpy_indices(" " + normalize(text, max_chars) + " ")
    raw = features._hash_ascii(text, *f._hash_args, max_chars)
    assert raw is not None
    np.testing.assert_array_equal(np.frombuffer(raw, np.int64), expected)
    np.testing.assert_array_equal(f.indices(text), expected)


@pytest.mark.parametrize("n", [1, 5, 4096, 4097, 5000])
@pytest.mark.parametrize(("pooling", "weight"), [("mean", 1.0), ("sum", 1.0), ("sqrtn", 0.5)])
def test_one_row_feed_weighs_every_id(n: int, pooling: str, weight: float) -> None:
    """One row: its ids as a [1, n] batch under [1, 1, n] weights, shared and read-only."""
    ids = list(range(n))  # any sequence of ints, not only Featurizer.indices
    expected = {"mean": 1.0 / n, "sum": 1.0, "sqrtn": n**-0.5}[pooling]
    for _ in range(2):  # the second feed of a length reuses the first one's weights
        feed = bag_feed([ids], pooling)
        assert feed["indices"].dtype == np.int64 and feed["indices"].tolist() == [ids]
        assert feed["weights"].dtype == np.float32 and feed["weights"].shape == (1, 1, n)
        np.testing.assert_allclose(feed["weights"], expected, rtol=1e-6)
    assert feed["weights"].flags.writeable == (n > 4096)


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    pooling=st.sampled_from(["mean", "sum", "sqrtn"]),
)
def test_a_batch_feed_weighs_each_row_as_alone_and_pads_with_zero(
    lengths: list[int], pooling: str
) -> None:
    rows = [np.arange(1, n + 1, dtype=np.int64) * (b + 1) for b, n in enumerate(lengths)]
    feed = bag_feed(rows, pooling)
    width = max(lengths)
    assert feed["indices"].shape == (len(rows), width)
    assert feed["weights"].shape == (len(rows), 1, width)
    for b, (row, n) in enumerate(zip(rows, lengths, strict=True)):
        alone = bag_feed([row], pooling)["weights"][0, 0]
        np.testing.assert_array_equal(feed["weights"][b, 0, :n], alone)
        np.testing.assert_array_equal(feed["indices"][b, :n], row)
        assert not feed["weights"][b, 0, n:].any() and not feed["indices"][b, n:].any()
        if pooling == "mean":
            assert abs(float(alone.sum()) - 1.0) < 1e-5
