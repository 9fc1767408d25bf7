def hash_ngrams(
    padded_text: str, char_orders: bytes, word_unigrams: bool, word_bigrams: bool, shift: int, /
) -> bytes: ...
def hash_ascii(
    text: str,
    char_orders: bytes,
    word_unigrams: bool,
    word_bigrams: bool,
    shift: int,
    max_chars: int,
    /,
) -> bytes | None: ...
