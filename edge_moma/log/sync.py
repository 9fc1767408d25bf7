"""Sync out: the decision log as versioned, append-only batches for the fleet.

A batch is three files named by its id (``<device>-d<first>-<last>-f<first>-<last>``):

* ``<id>.decisions.jsonl.gz`` — one JSON object per decision (the format in
  the README: id, device_id, created, router_version, query hash / text,
  intents, task, candidates with scores and masks, target, reason, attempts);
* ``<id>.feedback.jsonl.gz`` — one JSON object per feedback entry;
* ``<id>.manifest.json`` — written last: format, schema version, device id,
  the seq range, row count and sha256 of each file. A batch without a manifest
  is incomplete and readers skip it.

Export is idempotent. The range of the next batch is recorded in the log
(``sync_state.pending``) before any file is written and the cursor moves only
after the manifest is on disk, so re-running after a crash rewrites the same
batch — no duplicates, no gaps.

Example::

    store = LogStore.open(data_dir / "decisions.db")
    manifest = export_batch(store, Path("outbox"), device_id="dev-1")
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..jsonl import read_lines
from .schema import SCHEMA_VERSION
from .store import CURSOR_DECISIONS, LogStore

BATCH_FORMAT = "edge-moma-decision-batch"
# Version 4 lines carry the same fields as version 5 (5 changed how the device
# stores a decision, not the line), so a fleet reads batches from both.
SUPPORTED_SCHEMAS = frozenset({4, SCHEMA_VERSION})
MANIFEST_SUFFIX = ".manifest.json"
_CURSOR_D, _CURSOR_F, _PENDING = CURSOR_DECISIONS, "cursor.feedback", "pending"
_CHUNK = 4096


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_lines(path: Path, lines: Iterator[str]) -> int:
    """Write gzip JSON Lines atomically (temp file, fsync, rename); return the row count."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    rows = 0
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as gz:
            chunk: list[str] = []
            for line in lines:
                chunk.append(line)
                if len(chunk) >= _CHUNK:
                    gz.write(("\n".join(chunk) + "\n").encode("utf-8"))
                    rows += len(chunk)
                    chunk = []
            if chunk:
                gz.write(("\n".join(chunk) + "\n").encode("utf-8"))
                rows += len(chunk)
        raw.flush()
        os.fsync(raw.fileno())
    tmp.replace(path)
    return rows


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _state_int(store: LogStore, key: str) -> int:
    value = store.get_state(key)
    return int(value) if value else 0


def export_batch(
    store: LogStore, out_dir: str | Path, device_id: str, *, max_rows: int = 0
) -> dict[str, Any] | None:
    """Write the decisions and feedback not yet synced as one batch; return its manifest.

    Returns ``None`` when there is nothing new. ``max_rows`` caps the decisions
    in one batch (0: all); call again for the rest.
    """
    span = plan_batch(store, max_rows=max_rows)
    if span is None:
        return None
    out = Path(out_dir)
    manifest_path = out / f"{batch_id(device_id, span)}{MANIFEST_SUFFIX}"
    manifest: dict[str, Any] | None = None
    if manifest_path.is_file():
        try:
            manifest = verify_batch(manifest_path)
        except DataError:
            manifest = None  # a half-written batch from a crash: write it again
    if manifest is None:
        manifest = write_batch(store, out, device_id, span)
    commit_batch(store, span)
    return manifest


Span = dict[str, list[int]]


def batch_id(device_id: str, span: Span) -> str:
    (d_lo, d_hi), (f_lo, f_hi) = span["d"], span["f"]
    return f"{device_id}-d{d_lo + 1}-{d_hi}-f{f_lo + 1}-{f_hi}"


def plan_batch(store: LogStore, *, max_rows: int = 0) -> Span | None:
    """The seq ranges of the next batch, recorded in the log before any file is written.

    A batch planned but not committed (a crash) is planned again, unchanged.
    """
    conn = store.conn
    pending = store.get_state(_PENDING)
    if pending:
        span: Span = json.loads(pending)
        return span
    d_lo, f_lo = _state_int(store, _CURSOR_D), _state_int(store, _CURSOR_F)
    limit = max_rows if max_rows > 0 else -1
    d_hi = conn.execute(
        "SELECT max(seq) FROM (SELECT seq FROM decisions WHERE seq > ? ORDER BY seq LIMIT ?)",
        (d_lo, limit),
    ).fetchone()[0]
    f_hi = conn.execute("SELECT max(seq) FROM feedback WHERE seq > ?", (f_lo,)).fetchone()[0]
    if d_hi is None and f_hi is None:
        return None
    span = {"d": [d_lo, d_hi or d_lo], "f": [f_lo, f_hi or f_lo]}
    conn.execute(
        "INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)",
        (_PENDING, json.dumps(span)),
    )
    return span


def commit_batch(store: LogStore, span: Span) -> None:
    """Move the cursors past the batch (its decisions count as synced from now on)."""
    d_hi, f_hi = span["d"][1], span["f"][1]
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)",
            [(_CURSOR_D, str(d_hi)), (_CURSOR_F, str(f_hi))],
        )
        conn.execute("DELETE FROM sync_state WHERE key = ?", (_PENDING,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def write_batch(store: LogStore, out_dir: Path, device_id: str, span: Span) -> dict[str, Any]:
    """Write the batch's files and, last, its manifest; return the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = batch_id(device_id, span)
    d_span, f_span = (span["d"][0], span["d"][1]), (span["f"][0], span["f"][1])
    files: dict[str, Any] = {}
    for kind, (lo, hi), lines in (
        ("decisions", d_span, store.iter_decisions(*d_span)),
        ("feedback", f_span, store.iter_feedback(device_id, *f_span)),
    ):
        path = out_dir / f"{name}.{kind}.jsonl.gz"
        rows = _write_lines(path, lines)
        files[kind] = {
            "file": path.name,
            "first_seq": lo + 1,
            "last_seq": hi,
            "rows": rows,
            "sha256": _sha256(path),
        }
    created = store.conn.execute(
        "SELECT min(created), max(created) FROM decisions WHERE seq > ? AND seq <= ?", d_span
    ).fetchone()
    manifest = {
        "format": BATCH_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "batch_id": name,
        "device_id": device_id,
        "exported_at": time.time(),
        "first_created": created[0],
        "last_created": created[1],
        "rows": files["decisions"]["rows"] + files["feedback"]["rows"],
        "files": files,
    }
    _write_json(out_dir / f"{name}{MANIFEST_SUFFIX}", manifest)
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a batch manifest; refuse another format or a schema this version cannot read."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"unreadable batch manifest ({exc})", path=str(path)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BATCH_FORMAT:
        raise DataError(
            f"not an edge-moma batch manifest (format != {BATCH_FORMAT!r})", path=str(path)
        )
    schema = manifest.get("schema_version")
    if isinstance(schema, bool) or not isinstance(schema, int) or schema not in SUPPORTED_SCHEMAS:
        raise DataError(
            f"batch schema version {schema!r} is unknown to this collector (it reads "
            f"{sorted(SUPPORTED_SCHEMAS)}); upgrade the fleet scripts before collecting it",
            path=str(path),
        )
    for key in ("batch_id", "device_id"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise DataError(f"manifest lacks a string {key!r}", path=str(path))
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {"decisions", "feedback"}:
        raise DataError("manifest 'files' must name exactly decisions and feedback", path=str(path))
    for kind, entry in files.items():
        if not isinstance(entry, dict) or not {"file", "rows", "sha256"} <= entry.keys():
            raise DataError(f"manifest lacks files.{kind} (file, rows, sha256)", path=str(path))
        name, rows = entry["file"], entry["rows"]
        # a plain name next to the manifest: the collector copies the file by this name
        if not isinstance(name, str) or Path(name).name != name or name == ".." or "\0" in name:
            raise DataError(f"files.{kind}.file is {name!r}, not a file name", path=str(path))
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise DataError(f"files.{kind}.rows is {rows!r}, not a count", path=str(path))
        if not isinstance(entry["sha256"], str):
            raise DataError(f"files.{kind}.sha256 is not a string", path=str(path))
    return manifest


def verify_batch(manifest_path: str | Path) -> dict[str, Any]:
    """Read the manifest and check each file's sha256; return the manifest."""
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    for entry in manifest["files"].values():
        path = manifest_path.parent / entry["file"]
        if not path.is_file():
            raise DataError(f"batch file {entry['file']} is missing", path=str(manifest_path))
        if _sha256(path) != entry["sha256"]:
            raise DataError(
                f"batch file {entry['file']} does not match the manifest's sha256 "
                "(truncated or altered in transit); export or copy it again",
                path=str(manifest_path),
            )
    return manifest


def batch_file(manifest_path: str | Path, kind: str) -> Path:
    """The ``decisions`` or ``feedback`` file of a batch, named by its manifest."""
    return Path(manifest_path).parent / read_manifest(manifest_path)["files"][kind]["file"]


def iter_lines(manifest_path: str | Path, kind: str) -> Iterator[str]:
    """The JSON lines of one file (``decisions`` or ``feedback``) of a verified batch."""
    for _, text in read_lines(batch_file(manifest_path, kind)):
        yield text
