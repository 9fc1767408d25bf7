from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_moma.config import PrivacyRule, default_config_path, load_config
from edge_moma.routing.privacy import PrivacyRules, needle


def test_default_rules_find_emails_cards_and_health_terms() -> None:
    rules = PrivacyRules(load_config(default_config_path()).policy.privacy)
    assert rules.classes("write to jane.doe@example.com") == ("email",)
    assert rules.classes("card 4111 1111 1111 1111 expires soon") == ("card_number",)
    assert rules.classes("my Diagnosis came back") == ("health",)
    assert rules.classes("what's 15% of 80") == ()
    assert rules.classes("therapyland") == ()  # keywords match whole words only


def test_redact_replaces_every_match() -> None:
    rules = PrivacyRules(
        [
            PrivacyRule(name="email", regex=r"\S+@\S+"),
            PrivacyRule(name="secret", keywords=["password"]),
        ]
    )
    assert rules.redact("mail a@b.c my password") == "mail [email] my [secret]"


def _scan_everything(rules: list[PrivacyRule], texts: tuple[str, ...]) -> tuple[str, ...]:
    """The rules' meaning, without the keyword shortcut: every pattern scans every text."""
    out = []
    for rule in rules:
        parts = [rule.regex] if rule.regex else []
        parts += [r"\b" + re.escape(k) + r"\b" for k in rule.keywords]
        pattern = re.compile("|".join(parts), re.IGNORECASE)
        if any(pattern.search(t) for t in texts):
            out.append(rule.name)
    return tuple(out)


# Case-insensitive matching has non-ASCII partners of ASCII letters (the Kelvin sign
# and k, long s and s, dotted capital I and i): texts and keywords draw on them.
ASCII = "aAbBiIkKsSvVhH \t\n.-_'0"
TEXTS = st.text(alphabet=ASCII, max_size=60) | st.text(alphabet=ASCII + "İıſKßéÉ😀", max_size=60)
WORDS = st.text(alphabet="abiksvhABIKSVH-' ", max_size=6) | st.text(alphabet="abikİſKé", max_size=6)


@given(
    keywords=st.lists(st.lists(WORDS, min_size=1, max_size=4), min_size=1, max_size=3),
    texts=st.lists(TEXTS, min_size=1, max_size=3),
    with_regex=st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_keyword_shortcut_finds_exactly_what_a_full_scan_finds(
    keywords: list[list[str]], texts: list[str], with_regex: bool
) -> None:
    rules = [PrivacyRule(name=f"r{i}", keywords=k) for i, k in enumerate(keywords)]
    if with_regex:
        rules.append(PrivacyRule(name="digits", regex=r"\d\d", keywords=["bask"]))
    assert PrivacyRules(rules).classes(*texts) == _scan_everything(rules, tuple(texts))


def test_keyword_shortcut_keeps_case_and_word_boundaries() -> None:
    rules = PrivacyRules([PrivacyRule(name="health", keywords=["HIV", "symptom"])])
    assert rules.classes("an hiv test") == ("health",)
    assert rules.classes("SYMPTOMS") == ()  # a whole word only, as before
    assert rules.classes("a SYMPTOM") == ("health",)
    assert rules.classes("ſymptom") == ("health",)  # long s: not ASCII, the full scan decides


ATOMS = st.sampled_from(
    ["a", "K", "@", r"\.", "1", " ", "ſ", "[a-c]", r"\d", r"\w", r"\S", "[^a]", "[@.]", "."]
)
ANCHORS = st.sampled_from([r"\b", "^", "$", "(?=a)", "(?<!b)", "(?!@)"])


def _regexes() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        repeat = st.sampled_from(["*", "+", "?", "{2,3}", "{0,2}", "{1}", "+?"])
        return (
            st.tuples(inner, inner).map("".join)
            | st.tuples(inner, inner).map("|".join)
            | inner.map("(?:{})".format)
            | inner.map("({})".format)
            | inner.map("(?i:{})".format)
            | inner.map("(?-i:{})".format)
            | inner.map("(?a:{})".format)
            | st.tuples(inner.map("(?:{})".format), repeat).map("".join)
        )

    return st.recursive(ATOMS | ANCHORS, extend, max_leaves=8)


@given(
    regex=_regexes(),
    texts=st.lists(st.text(alphabet="aAbBcK@.1 ſkx\n", max_size=40), min_size=1, max_size=2),
)
@settings(max_examples=600, deadline=None)
def test_needle_shortcut_finds_exactly_what_a_full_scan_finds(regex: str, texts: list[str]) -> None:
    rules = [PrivacyRule(name="rule", regex=regex)]
    assert PrivacyRules(rules).classes(*texts) == _scan_everything(rules, tuple(texts))


def test_default_rules_skip_scans_by_their_needles() -> None:
    rules = load_config(default_config_path()).policy.privacy
    found = {r.name: needle(re.compile(r.regex, re.IGNORECASE)) for r in rules if r.regex}
    assert {name: n.pattern if n else None for name, n in found.items()} == {
        "email": "@",
        "card_number": r"[\d]",
    }
