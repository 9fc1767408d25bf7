"""Migrations: a log from every earlier schema version upgrades in place and keeps its rows."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from log_samples import make_record

from edge_moma.log.schema import SCHEMA_VERSION, migrate, schema_version
from edge_moma.log.sinks import LogRecord
from edge_moma.log.store import LogStore, decision_rows
from edge_moma.log.sync import export_batch, iter_lines

V1_COLUMNS = (
    "id, created, device_id, router_version, query_sha256, query_text, stage, target, "
    "fallbacks, reason, intents, out_of_scope, task, task_confidence, all_masked, "
    "candidates, context"
)
V2_COLUMNS = V1_COLUMNS + ", text_mode, features_version"
_j = json.JSONEncoder(separators=(",", ":")).encode


def old_columns(rec: LogRecord, device: str) -> tuple[Any, ...]:
    """A decision as versions 1-4 stored it: one column per field, JSON text for lists."""
    d, u = rec.decision, rec.decision.understanding
    assert u is not None
    return (
        d.id, d.created, device, d.router_version, d.context.query_sha256, rec.text,
        d.stage, d.target, _j(list(d.fallbacks)), d.reason,
        _j([{"label": i.label, "confidence": i.confidence} for i in u.intents]),
        int(u.out_of_scope), u.task, u.task_confidence, int(d.all_masked),
        _j([
            {"target": c.target, "kind": c.kind, "quality": c.quality, "cost_usd": c.cost_usd,
             "latency_s": c.latency_s, "energy_j": c.energy_j, "utility": c.utility,
             "masked_by": c.masked_by, "reason": c.reason}
            for c in d.candidates
        ]),
        _j(dataclasses.asdict(d.context)),
    )  # fmt: skip


def old_database(path: Path, version: int) -> list[LogRecord]:
    """A log at ``version`` holding three decisions written as that version wrote them;
    the newest of four was deleted, so its seq (4) must never be handed out again."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, upto=version)
    assert schema_version(conn) == version
    records = [make_record(i, attempts=True) for i in range(4)]
    for rec in records:
        if version == 1:
            conn.execute(
                f"INSERT INTO decisions ({V1_COLUMNS}) VALUES ({','.join('?' * 17)})",
                old_columns(rec, "old-device"),
            )
        else:
            conn.execute(
                f"INSERT INTO decisions ({V2_COLUMNS}) VALUES ({','.join('?' * 19)})",
                old_columns(rec, "old-device") + ("store", rec.features_version),
            )
        conn.executemany(
            "INSERT INTO attempts (decision_id, n, target, latency_s, prompt_tokens, "
            "completion_tokens, cost_usd, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (rec.decision.id, n, a.target, a.latency_s, a.prompt_tokens,
                 a.completion_tokens, a.cost_usd, a.error)
                for n, a in enumerate(rec.attempts)
            ],
        )  # fmt: skip
    conn.execute("DELETE FROM attempts WHERE decision_id = ?", (records[3].decision.id,))
    conn.execute("DELETE FROM decisions WHERE id = ?", (records[3].decision.id,))
    if version >= 2:
        conn.execute(
            "INSERT INTO feedback (decision_id, created, score) VALUES (?, 1.0, 0.5)",
            (records[0].decision.id,),
        )
    conn.close()
    return records[:3]


def as_written_now(tmp_path: Path, rec: LogRecord) -> dict[str, Any]:
    """The same decision written by this version (the reference for an upgraded row)."""
    store = LogStore.open(tmp_path / "reference.db")
    store.insert(decision_rows([rec], "old-device", "store", None))
    shown = store.show(rec.decision.id)
    store.close()
    (tmp_path / "reference.db").unlink()
    return shown


@pytest.mark.parametrize("version", range(0, SCHEMA_VERSION))
def test_upgrade_from_every_earlier_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "decisions.db"
    records = old_database(path, version) if version else []
    store = LogStore.open(path)
    assert schema_version(store.conn) == SCHEMA_VERSION
    stats = store.stats()
    assert stats["decisions"] == len(records) and stats["attempts"] == 2 * len(records)
    assert stats["failed_attempts"] == len(records)
    assert store.conn.execute("SELECT count(*) FROM attempts").fetchone()[0] == 2 * len(records)
    for n, rec in enumerate(records, 1):
        row = store.show(rec.decision.id)
        assert row["seq"] == n and row["synced"] is False
        expected = as_written_now(tmp_path, rec)
        if version == 1:  # version 1 kept neither the text mode nor the features version
            expected.update(text_mode="hash", features_version=None)
        # Rows from before exploration carry no propensity (readers take it as unknown).
        expected.pop("propensity"), expected.pop("explored")
        for key in ("seq", "feedback", "synced"):
            row.pop(key), expected.pop(key)
        assert row == expected
    if version >= 2:
        assert store.show(records[0].decision.id)["feedback"][0]["score"] == 0.5
    # The upgraded log takes new rows, never reusing a seq, and exports old and new together.
    new = make_record(4)
    store.insert(decision_rows([new], "old-device", "hash", None))
    assert store.show(new.decision.id)["seq"] == (5 if version else 1)
    manifest = export_batch(store, tmp_path / "out", "old-device")
    assert manifest is not None and manifest["files"]["decisions"]["rows"] == len(records) + 1
    lines = list(
        iter_lines(tmp_path / "out" / f"{manifest['batch_id']}.manifest.json", "decisions")
    )
    assert [json.loads(line)["id"] for line in lines] == [r.decision.id for r in [*records, new]]
    assert all(json.loads(line)["schema"] == SCHEMA_VERSION for line in lines)
