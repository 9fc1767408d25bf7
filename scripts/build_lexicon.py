"""Build ``edge_moma/agents/lexicon.txt``, the words ``agents.spelling`` reads slips against.

    python scripts/build_lexicon.py

Agent words: the words of 3 or more letters in at least ``SAID`` of CLINC150's
train and val requests for the built-in agents' intents and of the augmentation
templates for them (the parsers' words: "time", "remind", "percent", "todo"; not
the items on a list), with the units' names of 5 or more letters and the number
words. Known words, never respelled: every real word one slip from an agent word
("tide" stays "tide"), where the real words are the whole words of the BERT
uncased vocabulary (``scripts/data/minilm/tokenizer.json``, Apache 2.0) with
their common endings and the words used at least twice in CLINC150 train and
val's other requests, the LLM prompt sets and the everyday prompts, and every word of the
development near misses ("rewind the song"). Deterministic: the same data gives
the same file.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from edge_moma.agents.spelling import _LEXICON, deletion_index, near  # noqa: E402
from edge_moma.config import load_config  # noqa: E402
from edge_moma.targets.agents import numbers, units  # noqa: E402

DATA = ROOT / "scripts" / "data"
_WORDS = re.compile(r"[a-z]{3,}")


SAID = 5  # an agent word is in at least this many agent requests: the parsers' words, not items
_ENDINGS = ("s", "es", "ed", "d", "ing", "er", "ers", "ly")


def english() -> set[str]:
    """The whole alphabetic words of the BERT uncased vocabulary, with their common endings
    (the vocabulary keeps few plurals and verb forms: "meteors", "poodles")."""
    vocab = json.loads((DATA / "minilm" / "tokenizer.json").read_bytes())["model"]["vocab"]
    words = {w for w in vocab if w.isascii() and w.isalpha() and len(w) >= 3}
    stems = {w[:-1] for w in words if w.endswith("e")} | {
        w[:-1] + "i" for w in words if w.endswith("y")
    }
    return words | {w + e for w in words | stems for e in _ENDINGS}


def agent_intents() -> set[str]:
    config = load_config(str(ROOT / "configs" / "default.toml"), check_files=False)
    return {i for a in config.agents for i in a.intents}


def build() -> tuple[list[str], list[str]]:
    """(agent words, known words), each sorted."""
    from build_models import everyday_rows, prompt_rows
    from intent_augment import template_rows

    real = english()
    intents = agent_intents()
    clinc = json.loads((DATA / "clinc150" / "data_full.json").read_bytes())
    rows = clinc["train"] + clinc["val"]
    requests = [t for t, label in rows if label in intents]
    requests += [r.text for r in template_rows(seed=1) if r.label in intents]
    said = Counter(w for t in requests for w in set(_WORDS.findall(t.lower())))
    agent = {w for w, n in said.items() if n >= SAID}  # "time", "remind", "percent", "todo"
    agent |= {w for w in units._ALIASES if _WORDS.fullmatch(w) and len(w) >= 5}
    agent |= {w for table in (numbers.ONES, numbers.TENS, numbers.SCALES) for w in table}
    agent = {w for w in agent if len(w) >= 3}
    used = Counter(
        w
        # not the agents' own requests, where a slip made twice ("multily") is still a slip
        for t in [t for t, label in rows if label not in intents]
        + [t for t, _ in clinc["oos_train"] + clinc["oos_val"]]
        + [t for t, _ in prompt_rows()]
        + [r.text for r in everyday_rows("train")]
        for w in _WORDS.findall(t.lower())
    )
    # the near misses written for development: every word of them is meant ("rewind the
    # song", "a Miley track"), however rare
    for raw in (ROOT / "tests" / "data" / "agent_style_dev.jsonl").read_bytes().split(b"\n"):
        row = json.loads(raw) if raw.strip() else {}
        if row and row.get("agent") is None:
            used.update({w: 2 for w in _WORDS.findall(row["text"].lower())})
    used.update(
        {
            w: 2
            for r in template_rows(seed=1)
            if r.label not in intents
            for w in _WORDS.findall(r.text.lower())
        }
    )
    index = deletion_index(agent)
    known = {w for w in real | {w for w, n in used.items() if n >= 2} if w not in agent}
    return sorted(agent), sorted(w for w in known if near(w, index))


def main() -> int:
    agent, known = build()
    text = "\n".join(
        [
            "# The built-in agents' words and the real words one slip from them",
            "# (edge_moma.agents.spelling); built by scripts/build_lexicon.py.",
            "[agent]",
            *agent,
            "[known]",
            *known,
            "",
        ]
    )
    _LEXICON.write_text(text, encoding="utf-8")
    print(f"wrote {_LEXICON.relative_to(ROOT)}: {len(agent)} agent words, {len(known)} known")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
