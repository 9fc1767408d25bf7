"""Migrations: a log from every earlier schema version upgrades in place and keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from log_samples import make_record

from edge_moma.log_schema import SCHEMA_VERSION, migrate, schema_version
from edge_moma.log_store import LogStore, decision_rows
from edge_moma.sync import export_batch, iter_lines

V1_COLUMNS = (
    "id, created, device_id, router_version, query_sha256, query_text, stage, target, "
    "fallbacks, reason, intents, out_of_scope, task, task_confidence, all_masked, "
    "candidates, context"
)


def old_database(path: Path, version: int) -> list[str]:
    """A log at ``version`` holding three decisions written as that version wrote them."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, upto=version)
    assert schema_version(conn) == version
    records = [make_record(i, attempts=True) for i in range(3)]
    rows, attempts = decision_rows(records, "old-device", "store", None)
    for row in rows:
        # Version 1 had no text_mode / features_version columns (row[6], row[7]).
        v1 = row[:6] + row[8:]
        conn.execute(f"INSERT INTO decisions ({V1_COLUMNS}) VALUES ({','.join('?' * 17)})", v1)
    conn.executemany(
        "INSERT INTO attempts (decision_id, n, target, latency_s, prompt_tokens, "
        "completion_tokens, cost_usd, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        attempts,
    )
    if version >= 2:
        conn.execute(
            "INSERT INTO feedback (decision_id, created, score) VALUES (?, 1.0, 0.5)",
            (records[0].decision.id,),
        )
    conn.close()
    return [r.decision.id for r in records]


@pytest.mark.parametrize("version", range(0, SCHEMA_VERSION))
def test_upgrade_from_every_earlier_version(tmp_path: Path, version: int) -> None:
    path = tmp_path / "decisions.db"
    ids = old_database(path, version) if version else []
    store = LogStore.open(path)
    assert schema_version(store.conn) == SCHEMA_VERSION
    stats = store.stats()
    assert stats["decisions"] == len(ids) and stats["attempts"] == 2 * len(ids)
    for decision_id in ids:
        row = store.show(decision_id)
        assert row["attempts"][0]["target"] == "smollm2-135m"
        assert row["synced"] is False
    # The upgraded log takes new rows and exports old and new together.
    rows, _ = decision_rows([make_record(4)], "old-device", "hash", None)
    store.insert(rows)
    manifest = export_batch(store, tmp_path / "out", "old-device")
    assert manifest is not None and manifest["files"]["decisions"]["rows"] == len(ids) + 1
    lines = list(
        iter_lines(tmp_path / "out" / f"{manifest['batch_id']}.manifest.json", "decisions")
    )
    assert len(lines) == len(ids) + 1
