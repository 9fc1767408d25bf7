"""The fleet side on one machine: collect device batches, retrain, gate, publish a release.

``scripts/fleet.py`` is the command line over these functions. The batch
format (``edge_moma.sync``) is the contract; a fleet that outgrows one
machine reads the same batches with DuckDB or Spark and keeps only ``publish``.

* ``collect`` verifies each batch (manifest schema, sha256), rejects a batch of
  an unknown schema with a clear message, dedupes decisions by id and feedback
  by (device, seq) into ``fleet.db``, and remembers collected batches so a
  re-run ingests nothing twice.
* ``retrain_intent`` turns logged decisions with feedback into intent examples
  (positive feedback confirms the predicted intent, negative feedback marks the
  query out of scope; hash-only rows have no text and are skipped), adds them to
  the base dataset, and trains through ``edge_moma.intent_training`` — the same
  code as ``edge-moma train intent``.
* ``gate`` evaluates the candidate and the current bundle on one held-out set
  and promotes only if the candidate is not worse; the figures go to a report.
* ``publish`` writes a versioned release (bundle dirs + ``release.json`` with
  the sha256 of every file) that ``edge-moma model install`` accepts.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .bundle import sha256_file, verify_bundle
from .errors import DataError
from .sync import MANIFEST_SUFFIX, iter_lines, verify_batch

HOLDOUT_PER_MILLE = 200  # logged examples held out of training for the gate

_HEAD = re.compile(r'^\{"schema":(\d+),"id":"([^"\\]+)","seq":\d+,"device_id":"([^"\\]*)"')

_FLEET_SCHEMA = (
    # A rowid table with a unique index: a WITHOUT ROWID table keyed by random ids
    # would move ~1 kB rows around its B-tree on every insert.
    """CREATE TABLE IF NOT EXISTS decisions (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,
        line TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS feedback (
        device_id TEXT NOT NULL, seq INTEGER NOT NULL, decision_id TEXT NOT NULL,
        line TEXT NOT NULL, PRIMARY KEY (device_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, decisions INTEGER NOT NULL,
        feedback INTEGER NOT NULL, collected_at REAL NOT NULL)""",
)


def open_fleet_db(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for statement in _FLEET_SCHEMA:
        conn.execute(statement)
    return conn


def find_manifests(inputs: Iterable[str | Path]) -> list[Path]:
    """Batch manifests in the given files or directories (recursively), sorted."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += sorted(p.rglob(f"*{MANIFEST_SUFFIX}"))
        elif p.name.endswith(MANIFEST_SUFFIX):
            found.append(p)
        else:
            raise DataError("not a batch manifest or a directory of batches", path=str(p))
    return found


def _decision_key(line: str) -> tuple[str, str]:
    """(id, device_id) of a decision line; a fast path for the exporter's own field order."""
    m = _HEAD.match(line)
    if m:
        return m.group(2), m.group(3)
    row = json.loads(line)
    return str(row["id"]), str(row["device_id"])


def collect(inputs: Iterable[str | Path], fleet_db: str | Path) -> dict[str, Any]:
    """Ingest every batch under ``inputs`` into ``fleet_db``; return what happened."""
    conn = open_fleet_db(fleet_db)
    report: dict[str, Any] = {
        "batches": [],
        "already_collected": [],
        "rejected": [],
        "decisions": 0,
        "duplicates": 0,
        "feedback": 0,
    }
    try:
        for manifest_path in find_manifests(inputs):
            try:
                manifest = verify_batch(manifest_path)
            except DataError as exc:
                report["rejected"].append({"batch": str(manifest_path), "error": str(exc)})
                continue
            bid = manifest["batch_id"]
            if conn.execute("SELECT 1 FROM batches WHERE batch_id = ?", (bid,)).fetchone():
                report["already_collected"].append(bid)
                continue
            try:
                new, dup, fb = _ingest(conn, manifest_path, manifest)
            except (DataError, ValueError, OSError) as exc:
                report["rejected"].append({"batch": str(manifest_path), "error": str(exc)})
                continue
            report["batches"].append(bid)
            report["decisions"] += new
            report["duplicates"] += dup
            report["feedback"] += fb
    finally:
        conn.close()
    return report


def _ingest(
    conn: sqlite3.Connection, manifest_path: Path, manifest: dict[str, Any]
) -> tuple[int, int, int]:
    """One batch in one transaction: all its rows and its ``batches`` row, or nothing."""
    prefix = '{"schema":' + str(manifest["schema_version"]) + ","
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        rows = 0
        chunk: list[tuple[str, str, str]] = []
        for line in iter_lines(manifest_path, "decisions"):
            did, dev = _decision_key(line)
            if not line.startswith(prefix):
                raise DataError(f"a row's schema differs from the manifest's: {line[:40]}")
            chunk.append((did, dev, line))
            if len(chunk) >= 8192:
                conn.executemany(
                    "INSERT OR IGNORE INTO decisions (id, device_id, line) VALUES (?, ?, ?)", chunk
                )
                rows += len(chunk)
                chunk = []
        conn.executemany(
            "INSERT OR IGNORE INTO decisions (id, device_id, line) VALUES (?, ?, ?)", chunk
        )
        rows += len(chunk)
        new = conn.total_changes - before
        if rows != manifest["files"]["decisions"]["rows"]:
            raise DataError(
                f"{rows} decision rows, the manifest says {manifest['files']['decisions']['rows']}",
                path=str(manifest_path),
            )
        fb_rows = []
        for line in iter_lines(manifest_path, "feedback"):
            f = json.loads(line)
            fb_rows.append((f["device_id"], f["seq"], f["decision_id"], line))
        before_fb = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO feedback VALUES (?, ?, ?, ?)", fb_rows)
        fb_new = conn.total_changes - before_fb
        conn.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
            (manifest["batch_id"], manifest["device_id"], rows, len(fb_rows), time.time()),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return new, rows - new, fb_new


# --- retraining -----------------------------------------------------------------------


def logged_intent_examples(fleet_db: str | Path) -> dict[str, Any]:
    """Intent examples from decisions with feedback, split into train and held-out rows.

    Positive feedback (score >= 0.5 or correct) confirms the predicted top
    intent; negative feedback labels the query ``oos``. Rows logged with
    ``log_text = "hash"`` carry no text and are counted as skipped.
    """
    from .intent import OOS, IntentExample

    conn = open_fleet_db(fleet_db)
    try:
        rows = conn.execute(
            "SELECT d.line, f.line FROM feedback f JOIN decisions d ON d.id = f.decision_id "
            "ORDER BY f.device_id, f.seq"
        ).fetchall()
    finally:
        conn.close()
    latest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for d_line, f_line in rows:
        d, f = json.loads(d_line), json.loads(f_line)
        latest[d["id"]] = (d, f)  # the last feedback on a decision wins
    train: list[Any] = []
    held: list[Any] = []
    skipped = 0
    for did, (d, f) in sorted(latest.items()):
        text = d.get("query_text")
        if not text or not d.get("intents"):
            skipped += 1
            continue
        good = f["correct"] if f.get("correct") is not None else (f.get("score") or 0) >= 0.5
        label = d["intents"][0]["label"] if good else OOS
        example = IntentExample(text, label, d.get("task"))
        bucket = zlib.crc32(did.encode()) % 1000
        (held if bucket < HOLDOUT_PER_MILLE else train).append(example)
    return {"train": train, "holdout": held, "skipped_without_text": skipped}


def retrain_intent(
    fleet_db: str | Path,
    base_train: str | Path,
    out_dir: str | Path,
    work_dir: str | Path,
    *,
    epochs: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a candidate intent bundle from the base dataset plus logged feedback.

    Returns ``{"card": ..., "logged": {...counts}, "holdout_file": path}``; the
    held-out logged examples are written next to the training file for the gate.
    """
    from .intent import read_intent_file, write_intent_file
    from .intent_training import DEFAULT_CONFIG, train_intent

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    logged = logged_intent_examples(fleet_db)
    base = read_intent_file(base_train)
    labels = {r.label for r in base}
    unknown = [r for r in logged["train"] if r.label not in labels]
    train_rows = base + [r for r in logged["train"] if r.label in labels]
    train_file = write_intent_file(work / "retrain_intent.jsonl", train_rows)
    holdout_file = write_intent_file(work / "logged_holdout.jsonl", logged["holdout"])
    card = train_intent(
        train_file,
        out_dir,
        config=replace(DEFAULT_CONFIG, epochs=epochs, seed=seed),
        card_extra={
            "fleet": {
                "base_rows": len(base),
                "logged_rows": len(logged["train"]) - len(unknown),
                "logged_unknown_label": len(unknown),
                "logged_holdout": len(logged["holdout"]),
                "skipped_without_text": logged["skipped_without_text"],
            }
        },
    )
    return {"card": card, "logged": card["fleet"], "holdout_file": str(holdout_file)}


def gate(
    candidate: str | Path,
    current: str | Path,
    holdout_files: Sequence[str | Path],
    report_path: str | Path,
    *,
    metric: str = "accuracy",
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """Evaluate both bundles on the same held-out rows; promote only if not worse.

    ``promote`` is true when candidate ``metric`` >= current ``metric`` - ``tolerance``.
    """
    from .intent import read_intent_file
    from .intent_training import evaluate_rows

    rows = [r for f in holdout_files for r in read_intent_file(f)]
    if not rows:
        raise DataError("the held-out set is empty; pass a --holdout file with rows")
    cand = evaluate_rows(rows, candidate, latency=False)
    cur = evaluate_rows(rows, current, latency=False)
    c_value, k_value = cand[metric], cur[metric]
    promote = c_value is not None and k_value is not None and c_value >= k_value - tolerance
    report = {
        "metric": metric,
        "tolerance": tolerance,
        "holdout_rows": len(rows),
        "holdout_files": [str(f) for f in holdout_files],
        "candidate": {"version": cand["model"], **_figures(cand)},
        "current": {"version": cur["model"], **_figures(cur)},
        "delta": None if c_value is None or k_value is None else round(c_value - k_value, 4),
        "promote": promote,
        "decided_at": time.time(),
    }
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("accuracy", "in_scope_accuracy", "oos_recall", "oos_precision", "macro_f1")
    return {k: report.get(k) for k in keys}


def publish(
    components: dict[str, str | Path],
    out_dir: str | Path,
    *,
    release: str,
    gate_report: dict[str, Any] | None = None,
) -> Path:
    """Write release ``release`` (one bundle dir per kind + ``release.json``); return its dir.

    Refuses to overwrite an existing release: versions are immutable once published.
    """
    from .rollout import KINDS, RELEASE_FORMAT, RELEASE_NAME

    target = Path(out_dir) / release
    if target.exists():
        raise DataError(f"release {release!r} already exists; publish under a new version")
    partial = Path(out_dir) / f".{release}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    files: dict[str, str] = {}
    versions: dict[str, str] = {}
    for kind, src in components.items():
        if kind not in KINDS:
            raise DataError(f"unknown bundle kind {kind!r}; expected one of {list(KINDS)}")
        card = verify_bundle(src, kind)
        versions[kind] = str(card["version"])
        shutil.copytree(src, partial / kind)
        for f in sorted((partial / kind).iterdir()):
            files[f"{kind}/{f.name}"] = sha256_file(f)
    manifest = {
        "format": RELEASE_FORMAT,
        "version": release,
        "created": time.time(),
        "components": {kind: kind for kind in components},
        "versions": versions,
        "gate": gate_report,
        "files": files,
    }
    (partial / RELEASE_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial.rename(target)
    return target
