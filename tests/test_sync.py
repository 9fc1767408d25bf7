"""Sync export: batch format, manifest checks, and idempotency across simulated crashes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from log_samples import make_record

from edge_moma.errors import DataError
from edge_moma.log.schema import SCHEMA_VERSION
from edge_moma.log.store import Feedback, LogStore, decision_rows
from edge_moma.log.sync import (
    MANIFEST_SUFFIX,
    export_batch,
    iter_lines,
    plan_batch,
    verify_batch,
    write_batch,
)


def add(store: LogStore, n: int, start: int = 0) -> list[str]:
    records = [make_record(start + i, attempts=i % 2 == 0) for i in range(n)]
    store.insert(decision_rows(records, "dev-a", "hash", None))
    return [r.decision.id for r in records]


def exported(out: Path) -> list[dict]:
    rows = []
    for manifest in sorted(out.glob(f"*{MANIFEST_SUFFIX}")):
        verify_batch(manifest)
        rows += [json.loads(line) for line in iter_lines(manifest, "decisions")]
    return rows


def test_batch_has_manifest_checksums_and_the_documented_fields(tmp_path: Path) -> None:
    store = LogStore.open(tmp_path / "decisions.db")
    ids = add(store, 5)
    store.add_feedback(Feedback(ids[0], score=1.0, correct=True))
    manifest = export_batch(store, tmp_path / "out", "dev-a")
    assert manifest is not None
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["device_id"] == "dev-a"
    assert manifest["files"]["decisions"]["rows"] == 5
    assert manifest["files"]["decisions"]["first_seq"] == 1
    assert manifest["files"]["decisions"]["last_seq"] == 5
    assert manifest["files"]["feedback"]["rows"] == 1
    rows = exported(tmp_path / "out")
    assert [r["id"] for r in rows] == ids
    first = rows[0]
    assert set(first) >= {
        "schema", "id", "seq", "device_id", "created", "router_version", "features_version",
        "query_sha256", "query_text", "text_mode", "stage", "target", "fallbacks", "reason",
        "intents", "out_of_scope", "task", "task_confidence", "all_masked", "candidates",
        "context", "attempts",
    }  # fmt: skip
    assert first["query_text"] is None and first["text_mode"] == "hash"
    assert first["attempts"][0] == {
        "target": "smollm2-135m", "latency_s": 0.42, "prompt_tokens": 12,
        "completion_tokens": 30, "cost_usd": 0.0, "error": None,
    }  # fmt: skip
    fb = [
        json.loads(x)
        for x in iter_lines(
            tmp_path / "out" / f"{manifest['batch_id']}{MANIFEST_SUFFIX}", "feedback"
        )
    ]
    assert fb[0]["decision_id"] == ids[0] and fb[0]["correct"] is True
    assert store.stats()["unsynced"] == 0
    assert export_batch(store, tmp_path / "out", "dev-a") is None  # nothing new


def test_rerun_after_crash_before_commit_gives_no_duplicates_and_no_gaps(tmp_path: Path) -> None:
    store = LogStore.open(tmp_path / "decisions.db")
    ids = add(store, 50)
    out = tmp_path / "out"
    span = plan_batch(store)
    assert span is not None
    write_batch(store, out, "dev-a", span)  # ... and the process dies before the commit
    ids += add(store, 30, start=50)  # the device keeps logging meanwhile
    first = export_batch(store, out, "dev-a")
    assert first is not None and first["files"]["decisions"]["rows"] == 50  # the same batch
    second = export_batch(store, out, "dev-a")
    assert second is not None and second["files"]["decisions"]["rows"] == 30
    rows = exported(out)
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert sorted(r["seq"] for r in rows) == list(range(1, 81))


def test_rerun_after_crash_mid_write_rewrites_the_half_batch(tmp_path: Path) -> None:
    store = LogStore.open(tmp_path / "decisions.db")
    ids = add(store, 40)
    out = tmp_path / "out"
    out.mkdir()
    span = plan_batch(store)
    assert span is not None
    # A directory where the feedback file goes makes the export fail half-way.
    blocker = out / "dev-a-d1-40-f1-0.feedback.jsonl.gz"
    blocker.mkdir()
    with pytest.raises(OSError):
        export_batch(store, out, "dev-a")
    assert not list(out.glob(f"*{MANIFEST_SUFFIX}"))  # no manifest: readers skip it
    blocker.rmdir()
    ids += add(store, 10, start=40)
    while export_batch(store, out, "dev-a", max_rows=15):
        pass
    rows = exported(out)
    assert sorted(r["seq"] for r in rows) == list(range(1, 51))
    assert len({r["id"] for r in rows}) == len(ids) == 50


def test_tampered_or_unknown_batches_are_refused(tmp_path: Path) -> None:
    store = LogStore.open(tmp_path / "decisions.db")
    add(store, 3)
    manifest = export_batch(store, tmp_path / "out", "dev-a")
    assert manifest is not None
    path = tmp_path / "out" / f"{manifest['batch_id']}{MANIFEST_SUFFIX}"
    data_file = tmp_path / "out" / manifest["files"]["decisions"]["file"]
    data_file.write_bytes(gzip.compress(b'{"id": "forged"}\n'))
    with pytest.raises(DataError, match="sha256"):
        verify_batch(path)
    manifest["schema_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="schema version 99 is unknown"):
        verify_batch(path)
