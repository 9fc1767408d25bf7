"""Every JSON Lines reader splits on b"\\n" only: strings holding the characters that
``str.splitlines()`` also breaks at come back unchanged, through each real reader
(routing sets, intent sets, fleet batches, the routing gate's logged holdout, the
shipped-model build script), and any bytes give rows or a ``DataError``."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from log_samples import make_decision

from edge_moma import jsonl
from edge_moma.errors import DataError
from edge_moma.log.sinks import LogRecord
from edge_moma.log.store import Feedback, LogStore, decision_rows
from edge_moma.log.sync import export_batch
from edge_moma.routing.intent import read_intent_file
from edge_moma.training.fleet import collect, gate_routing, iter_collected, logged_intent_examples
from edge_moma.training.intent import _data_entry
from edge_moma.training.routing_data import load_routing_set

ROOT = Path(__file__).resolve().parent.parent
ROUTING = ROOT / "models" / "routing"
# What str.splitlines() splits at besides "\n": legal inside a JSON string.
BREAKERS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
CHARS = st.sampled_from([*BREAKERS, "\t", '"', "\\", "a", " "]) | st.characters(
    exclude_categories=("Cs",)  # lone surrogates cannot be written as UTF-8
)
TEXT = st.text(CHARS, max_size=40)
# How a line may be written: escaped ASCII, raw non-ASCII, raw control characters; LF or CRLF.
STYLES = st.sampled_from(["ascii", "utf8", "raw", "crlf"])
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def dumps(obj: Any, style: str) -> str:
    """One JSON line in ``style``; "raw" leaves every control character but "\\n" unescaped."""
    if style == "raw":
        return _raw(obj)
    return json.dumps(obj, ensure_ascii=style == "ascii")


def _raw(obj: Any) -> str:
    if isinstance(obj, str):
        body = obj.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{body}"'
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{_raw(k)}: {_raw(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(_raw(v) for v in obj) + "]"
    return json.dumps(obj)


def write_lines(path: Path, rows: list[Any], style: str) -> Path:
    end = "\r\n" if style == "crlf" else "\n"
    path.write_bytes("".join(dumps(r, style) + end for r in rows).encode("utf-8"))
    return path


def test_lines_split_on_newline_only_and_drop_a_trailing_cr() -> None:
    data = '{"a": "x\u2028y\x85z"}\r\n\n  \n{"a": "w"}'.encode()
    assert list(jsonl.records(data.split(b"\n"), "f")) == [
        (1, {"a": "x\u2028y\x85z"}),
        (4, {"a": "w"}),
    ]
    with_bom = '\ufeff{"a": 1}\n'.encode()
    assert list(jsonl.records(with_bom.split(b"\n"), "f")) == [(1, {"a": 1})]


def test_raw_control_characters_inside_strings_are_kept() -> None:
    line = b'{"a": "tab\there\rcr\x0bvt"}'
    assert list(jsonl.records([line], "f")) == [(1, {"a": "tab\there\rcr\x0bvt"})]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b'{"a": 1}\n{"a": \n', "f:2: not valid JSON"),
        (b'{"a": 1}\n\xff\xfe\n', "f:2: not valid UTF-8"),
        (b"[" * 100_000, "f:1: not valid JSON: nested too deeply"),
        (b'{"a": 1}\n{"a": "x\xe2\x80"}\n', "f:2: not valid UTF-8"),
    ],
)
def test_bad_lines_name_the_file_and_line(data: bytes, words: str) -> None:
    with pytest.raises(DataError) as info:
        list(jsonl.records(data.split(b"\n"), "f"))
    assert words in str(info.value)


def test_damaged_gzip_and_missing_files_are_data_errors(tmp_path: Path) -> None:
    gz = tmp_path / "x.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-30])
    with pytest.raises(DataError, match="x.jsonl.gz: cannot read the file"):
        list(jsonl.read_records(gz))
    with pytest.raises(DataError, match="cannot read the file"):
        list(jsonl.read_records(tmp_path / "absent.jsonl"))
    with pytest.raises(DataError, match="cannot read the file"):
        list(jsonl.read_records(str(tmp_path / "nul\0.jsonl")))


@FAST
@given(prompts=st.lists(TEXT, min_size=1, max_size=5), style=STYLES)
def test_routing_sets_keep_every_prompt(prompts: list[str], style: str) -> None:
    rows = [
        {"id": f"q{i}", "prompt": p, "scores": {"a": 1.0, "b": 0.0}, "costs": {"a": 0.1, "b": 0.2}}
        for i, p in enumerate(prompts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        data = load_routing_set(write_lines(Path(tmp) / "r.jsonl", rows, style))
    assert list(data.prompts) == prompts and data.scores.shape == (len(prompts), 2)


@FAST
@given(texts=st.lists(TEXT, min_size=1, max_size=5), style=STYLES)
def test_intent_sets_keep_every_text_and_count_every_row(texts: list[str], style: str) -> None:
    rows = [{"text": t, "label": f"l{i % 2}", "task": "chat"} for i, t in enumerate(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_lines(Path(tmp) / "i.jsonl", rows, style)
        read = read_intent_file(path)
        assert _data_entry("train", path)["rows"] == len(texts)
    assert [r.text for r in read] == texts


def build_models_jsonl() -> Callable[[Path], list[dict[str, Any]]]:
    """``_jsonl`` of scripts/build_models.py, the reader of the shipped bundles' data."""
    spec = importlib.util.spec_from_file_location("build_models", ROOT / "scripts/build_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_models", module)
    spec.loader.exec_module(module)
    return module._jsonl  # type: ignore[no-any-return]


@FAST
@given(texts=st.lists(TEXT, min_size=1, max_size=5), style=STYLES)
def test_the_build_scripts_reader_keeps_every_text(texts: list[str], style: str) -> None:
    read = build_models_jsonl()
    with tempfile.TemporaryDirectory() as tmp:
        rows = read(write_lines(Path(tmp) / "p.jsonl", [{"text": t} for t in texts], style))
    assert [r["text"] for r in rows] == texts


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXT.filter(str.strip), min_size=1, max_size=4), note=TEXT)
def test_fleet_batches_keep_every_query_and_note(texts: list[str], note: str) -> None:
    records = [LogRecord(make_decision(t), t, (), 1) for t in texts]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = LogStore.open(root / "dev" / "decisions.db")
        store.insert(decision_rows(records, "dev", "store", None))
        store.add_feedback(Feedback(records[0].decision.id, score=1.0, note=note))
        export_batch(store, root / "inbox", "dev")
        store.close()
        report = collect([root / "inbox"], root / "fleet" / "fleet.db")
        assert report["rejected"] == [] and report["decisions"] == len(texts)
        rows = list(iter_collected(root / "fleet" / "fleet.db"))
        examples = logged_intent_examples(root / "fleet" / "fleet.db")
    assert [r["query_text"] for r in rows] == texts
    assert [e.text for e in examples["train"] + examples["holdout"]] == texts[:1]


@FAST
@given(prompts=st.lists(TEXT, min_size=1, max_size=4), style=STYLES)
def test_the_routing_gate_reads_every_logged_prompt(prompts: list[str], style: str) -> None:
    model = "gpt-4-1106-preview"  # known to the shipped predictor, candidate and current here
    rows = [
        {"id": str(i), "prompt": p, "model": model, "score": 1.0} for i, p in enumerate(prompts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        holdout = write_lines(Path(tmp) / "logged.jsonl", rows, style)
        report = gate_routing(ROUTING, ROUTING, [], holdout, Path(tmp) / "gate.json")
    assert report["brier"]["entries"] == len(prompts) and report["brier"]["delta"] == 0


KEYS = st.sampled_from(["text", "label", "task", "prompt", "scores", "costs", "id", "a", "b"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS | TEXT, inner, max_size=4),
    max_leaves=12,
)
LINES = st.lists(st.tuples(JSON, STYLES), max_size=4).map(
    lambda rows: "".join(dumps(r, s) + "\n" for r, s in rows).encode()
)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300) | LINES)
def test_any_bytes_give_rows_or_a_data_error(data: bytes) -> None:
    readers = [load_routing_set, read_intent_file, lambda p: list(jsonl.read_records(p))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "any.jsonl"
        path.write_bytes(data)
        for read in readers:
            try:
                read(path)
            except DataError as exc:
                assert str(path) in str(exc)
