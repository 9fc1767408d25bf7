"""The fleet side on one machine: collect device batches, retrain, gate, publish a release.

``scripts/fleet.py`` is the command line over these functions. The batch
format (``edge_moma.log.sync``) is the contract; a fleet that outgrows one
machine reads the same batches with DuckDB or Spark and keeps only ``publish``.

* ``collect`` verifies each batch (manifest schema, sha256), rejects a batch of
  an unknown schema with a clear message, dedupes decisions by id and feedback
  by (device, seq) into ``fleet.db``, and remembers collected batches so a
  re-run ingests nothing twice.
* ``retrain_intent`` turns logged decisions with feedback into intent examples
  (positive feedback confirms the predicted intent, negative feedback marks the
  query out of scope; hash-only rows have no text and are skipped), adds them to
  the base dataset, and trains through ``edge_moma.training.intent`` — the same
  code as ``edge-moma train intent``.
* ``gate`` evaluates the candidate and the current bundle on one held-out set
  and promotes only if the candidate is not worse; the figures go to a report.
* ``publish`` writes a versioned release (bundle dirs + ``release.json`` with
  the sha256 of every file) that ``edge-moma model install`` accepts.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import re
import shutil
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from ..errors import DataError
from ..jsonl import parse, read_lines, read_records
from ..log.sync import MANIFEST_SUFFIX, batch_file, verify_batch
from ..routing.bundle import read_card, sha256_file, verify_bundle

HOLDOUT_PER_MILLE = 200  # logged intent examples held out of training for the gate
CROSSFIT_FOLDS = 5  # the routing gate checks each logged outcome with a model trained without it
# The routing gate promotes only on at least this many decisions where candidate and
# installed router choose differently: the value difference lives on those alone, and
# a bootstrap over a few dozen of them, a handful with large importance weights, was
# too narrow (a fleet loop promoted a worse router on 62; README, fleet loop).
MIN_DISAGREEMENTS = 100
BATCHES_DIR = "batches"

# Collected batches stay gzip JSON Lines files (copied under ``batches/``): the
# fleet database indexes decision ids for dedupe and keeps the (small) feedback;
# copying ~1 kB lines into SQLite would cost more than everything else together.
_FLEET_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS feedback (
        device_id TEXT NOT NULL, seq INTEGER NOT NULL, decision_id TEXT NOT NULL,
        line TEXT NOT NULL, PRIMARY KEY (device_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS batches (
        batch_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, manifest TEXT NOT NULL,
        decisions INTEGER NOT NULL, duplicates INTEGER NOT NULL, feedback INTEGER NOT NULL,
        collected_at REAL NOT NULL)""",
)


def open_fleet_db(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        conn.execute("PRAGMA page_size = 16384")  # a new file: fewer page splits per id
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


def collect(inputs: Iterable[str | Path], fleet_db: str | Path) -> dict[str, Any]:
    """Verify and ingest every batch under ``inputs``; return what happened.

    Accepted batches are copied to ``batches/<device>/`` next to ``fleet_db``.
    One collector at a time per fleet database.
    """
    conn = open_fleet_db(fleet_db)
    store = Path(fleet_db).parent / BATCHES_DIR
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
            if manifest_path.is_relative_to(store):
                continue
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
                new, dup, fb = _ingest(conn, manifest_path, manifest, store)
            except (DataError, ValueError, OSError, zlib.error) as exc:
                report["rejected"].append({"batch": str(manifest_path), "error": str(exc)})
                continue
            report["batches"].append(bid)
            report["decisions"] += new
            report["duplicates"] += dup
            report["feedback"] += fb
    finally:
        conn.close()
    return report


_RAW_CHUNK = 1 << 20  # compressed bytes per read; ~20 MB of lines once inflated


def _inflated_blocks(path: Path) -> Iterator[bytes]:
    """The gzip file's content as blocks of whole lines, inflated in a helper thread.

    zlib releases the GIL while it inflates, so the next block is decompressed
    while the caller scans this one (decompression is a third of an ingest).
    Several gzip members in a row (concatenated files) are read as one stream.
    """
    blocks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=3)

    def inflate() -> None:
        try:
            d, started, left = zlib.decompressobj(wbits=31), False, b""
            with open(path, "rb") as fh:
                for raw in iter(lambda: fh.read(_RAW_CHUNK), b""):
                    while raw:
                        out, raw, started = left + d.decompress(raw), b"", True
                        if d.eof:  # the end of one gzip member; another may follow
                            raw, d, started = d.unused_data, zlib.decompressobj(wbits=31), False
                        cut = out.rfind(b"\n") + 1
                        if cut:
                            blocks.put(out[:cut])
                        left = out[cut:]
            if started or left:
                raise DataError("the decisions file is truncated (no complete last line)")
            blocks.put(None)
        except BaseException as exc:  # handed to the reader, raised there
            blocks.put(exc)

    worker = threading.Thread(target=inflate, name="edge-moma-inflate", daemon=True)
    worker.start()
    try:
        while True:
            item = blocks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        while worker.is_alive():  # unblock the helper if the reader stopped early
            with contextlib.suppress(queue.Empty):
                blocks.get(timeout=0.1)


def _decision_ids(path: Path, schema: int) -> list[str]:
    """The decision ids of a batch file, checking that every line is a schema-``schema``
    decision (each line starts ``{"schema":N,"id":"``: the format fixes that order)."""
    prefix = b'{"schema":%d,"id":"' % schema
    start = len(prefix)
    ids: list[bytes] = []
    append = ids.append
    line_no = quote = 0
    for block in _inflated_blocks(path):
        pos, end = 0, len(block)
        find, starts = block.find, block.startswith
        while pos < end:
            if not starts(prefix, pos):
                raise DataError(
                    f"not a schema-{schema} decision: {block[pos : pos + 40]!r}",
                    path=str(path),
                    line=line_no + block.count(b"\n", 0, pos) + 1,
                )
            quote = find(b'"', pos + start)
            append(block[pos + start : quote])
            pos = find(b"\n", quote) + 1
        line_no += block.count(b"\n")
        if quote < 0:  # the block's last id has no closing quote
            _unclosed_id(path, start)
    if not ids:
        return []
    # One decode for all ids (C loops), not one per id.
    decoded = b"\n".join(ids).decode("utf-8").split("\n")
    # An id without its closing quote took in a line end (and the next line): checked
    # for the whole file here rather than per line, which would cost 3% of an ingest.
    if len(ids) != line_no or len(decoded) != len(ids):
        _unclosed_id(path, start)
    return decoded


def _unclosed_id(path: Path, start: int) -> NoReturn:
    """Raise the ``DataError`` naming the first line whose id is not a closed string."""
    number = next((n for n, line in read_lines(path) if '"' not in line[start:]), None)
    raise DataError("the decision id is not a closed string", path=str(path), line=number)


def _ingest(
    conn: sqlite3.Connection, manifest_path: Path, manifest: dict[str, Any], store: Path
) -> tuple[int, int, int]:
    """One batch: ids and feedback in one transaction, its files kept under ``store``."""
    files = manifest["files"]
    ids = _decision_ids(
        manifest_path.parent / files["decisions"]["file"], manifest["schema_version"]
    )
    if len(ids) != files["decisions"]["rows"]:
        raise DataError(
            f"{len(ids)} decision rows, the manifest says {files['decisions']['rows']}",
            path=str(manifest_path),
        )
    fb_rows = _feedback_rows(batch_file(manifest_path, "feedback"))
    target = store / _safe(manifest["device_id"])
    target.mkdir(parents=True, exist_ok=True)
    for entry in files.values():
        shutil.copyfile(manifest_path.parent / entry["file"], target / entry["file"])
    kept = target / manifest_path.name
    shutil.copyfile(manifest_path, kept)
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        # In key order: each B-tree page is visited once, not once per id (2x faster).
        ids.sort()
        conn.executemany("INSERT OR IGNORE INTO seen VALUES (?)", zip(ids))
        new = conn.total_changes - before
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO feedback VALUES (?, ?, ?, ?)", fb_rows)
        fb_new = conn.total_changes - before
        conn.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                manifest["batch_id"],
                manifest["device_id"],
                str(kept),
                len(ids),
                len(ids) - new,
                fb_new,
                time.time(),
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return new, len(ids) - new, fb_new


def _feedback_rows(path: Path) -> list[tuple[str, int, str, str]]:
    """(device_id, seq, decision_id, line) of each line of a batch's feedback file."""
    rows = []
    for number, line in read_lines(path):
        f = parse(line, str(path), number)
        if not (
            isinstance(f, dict)
            and type(f.get("seq")) is int
            and 0 <= f["seq"] < 1 << 63  # an SQLite integer
            and isinstance(f.get("device_id"), str)
            and isinstance(f.get("decision_id"), str)
        ):
            raise DataError(
                "not a feedback line (device_id, seq, decision_id)", path=str(path), line=number
            )
        rows.append((f["device_id"], f["seq"], f["decision_id"], line))
    return rows


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def iter_collected(fleet_db: str | Path) -> Iterator[dict[str, Any]]:
    """Every collected decision once (the first copy of a duplicated id), as a dict."""
    conn = open_fleet_db(fleet_db)
    try:
        manifests = [r[0] for r in conn.execute("SELECT manifest FROM batches ORDER BY rowid")]
    finally:
        conn.close()
    seen: set[str] = set()
    for manifest in manifests:
        for _, row in read_records(batch_file(manifest, "decisions")):
            if row["id"] not in seen:
                seen.add(row["id"])
                yield row


# --- retraining -----------------------------------------------------------------------


def logged_intent_examples(fleet_db: str | Path) -> dict[str, Any]:
    """Intent examples from decisions with feedback, split into train and held-out rows.

    Positive feedback (score >= 0.5 or correct) confirms the predicted top
    intent; negative feedback labels the query ``oos``. Rows logged with
    ``log_text = "hash"`` carry no text and are counted as skipped.
    """
    from ..routing.intent import OOS, IntentExample

    train: list[Any] = []
    held: list[Any] = []
    skipped = 0
    for did, (d, f) in _with_feedback(fleet_db):
        text = d.get("query_text")
        if not text or not d.get("intents"):
            skipped += 1
            continue
        good = f["correct"] if f.get("correct") is not None else (f.get("score") or 0) >= 0.5
        label = d["intents"][0]["label"] if good else OOS
        example = IntentExample(text, label, d.get("task"))
        (held if _held_out(did) else train).append(example)
    return {"train": train, "holdout": held, "skipped_without_text": skipped}


def _with_feedback(fleet_db: str | Path) -> list[tuple[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """(id, (decision, its latest feedback)) of every collected decision with feedback, in
    the order of each decision's first feedback (device, then its sequence number).

    Not in id order: ids are random, and the rows' order reaches the trainer (its
    k-means starts from rows it draws by position), so the same traffic and
    feedback would train a different candidate each time.
    """
    conn = open_fleet_db(fleet_db)
    try:
        feedback: dict[str, dict[str, Any]] = {}
        for (line,) in conn.execute("SELECT line FROM feedback ORDER BY device_id, seq"):
            f = json.loads(line)
            feedback[f["decision_id"]] = f  # the last feedback on a decision wins
    finally:
        conn.close()
    decisions = {d["id"]: d for d in iter_collected(fleet_db) if d["id"] in feedback}
    return [(i, (decisions[i], f)) for i, f in feedback.items() if i in decisions]


def _held_out(decision_id: str) -> bool:
    """The same ~20 % of logged decisions, whichever router is retrained from them."""
    return zlib.crc32(decision_id.encode()) % 1000 < HOLDOUT_PER_MILLE


def retrain_intent(
    fleet_db: str | Path,
    base_train: str | Path,
    out_dir: str | Path,
    work_dir: str | Path,
    *,
    epochs: int = 10,
    seed: int = 0,
    teacher: str | Path | None = None,
) -> dict[str, Any]:
    """Train a candidate intent bundle from the base dataset plus logged feedback.

    ``teacher`` (the bundle the devices run now) teaches the candidate when it
    has the same labels (``intent_teacher``: warm start, soft targets, its
    out-of-scope rule); otherwise the candidate trains from the data alone.
    Returns ``{"card": ..., "logged": {...counts}, "holdout_file": path}``; the
    held-out logged examples are written next to the training file for the gate.
    """
    from ..routing.intent import read_intent_file, write_intent_file
    from .intent import DEFAULT_CONFIG, train_intent

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    logged = logged_intent_examples(fleet_db)
    base = read_intent_file(base_train)
    labels = {r.label for r in base}
    unknown = [r for r in logged["train"] if r.label not in labels]
    train_rows = base + [r for r in logged["train"] if r.label in labels]
    train_file = write_intent_file(work / "retrain_intent.jsonl", train_rows)
    holdout_file = write_intent_file(work / "logged_holdout.jsonl", logged["holdout"])
    taught = teacher is not None and read_card(teacher).get("labels") == sorted(labels)
    card = train_intent(
        train_file,
        out_dir,
        config=replace(DEFAULT_CONFIG, epochs=epochs, seed=seed),
        teacher=teacher if taught else None,
        card_extra={
            "fleet": {
                "teacher": str(teacher) if taught else None,
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
    from ..routing.intent import read_intent_file
    from .intent import evaluate_rows

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
    hint: bool = False,
) -> Path:
    """Write release ``release`` (one bundle dir per kind + ``release.json``); return its dir.

    Refuses to overwrite an existing release: versions are immutable once published.
    ``hint``: an exploration hint (one routing bundle, typically a refused candidate),
    which devices install beside their router to steer exploration only (``rollout``).
    """
    from ..bundle_dirs import KINDS
    from .rollout import RELEASE_FORMAT, RELEASE_NAME

    if hint and set(components) != {"routing"}:
        raise DataError("an exploration hint release holds one routing bundle and nothing else")
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
    if hint:
        manifest["hint"] = True
    (partial / RELEASE_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial.rename(target)
    return target


# --- the routing quality predictor --------------------------------------------------------


def logged_routing_rows(
    fleet_db: str | Path, aliases: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Partial routing rows from logged LLM decisions with feedback.

    A row is one prompt with *one* model's observed score: the model that
    answered (the last attempt without an error; for a decision that was only
    routed, its target) and the feedback score (``correct`` counts as 1 or 0).
    Its cost is that attempt's ``cost_usd``, else the device's estimate for
    the chosen candidate. ``propensity``
    is the probability the device's policy had of choosing that model (from
    the decision; ``None`` when a fallback answered, the target was pinned, or
    the device logged none), ``candidates`` what the policy saw and ``fold``
    the row's cross-fitting fold (both for the gate). ``aliases`` maps a
    device's target name to the model column it should train (e.g. a known
    model of the base file); by default a target trains a column of its own
    name, which the predictor then knows (a learned profile). Agent decisions
    and hash-only rows (no text) are skipped and counted.
    """
    aliases = aliases or {}
    rows: list[dict[str, Any]] = []
    skipped = {"without_text": 0, "not_llm": 0, "no_answer": 0}
    for did, (d, f) in _with_feedback(fleet_db):
        text = d.get("query_text")
        if not text:
            skipped["without_text"] += 1
            continue
        if d.get("stage") != "llm":
            skipped["not_llm"] += 1
            continue
        attempts = d.get("attempts") or []
        answered = [a for a in attempts if a.get("error") is None]
        if attempts and not answered:
            skipped["no_answer"] += 1  # every target failed: no answer was scored
            continue
        model = answered[-1]["target"] if answered else d.get("target")
        if not model:
            skipped["no_answer"] += 1
            continue
        if f.get("score") is not None:
            score = float(f["score"])
        else:
            score = 1.0 if f.get("correct") else 0.0
        estimated = [c for c in d.get("candidates") or [] if c.get("target") == model]
        if answered:
            cost = float(answered[-1]["cost_usd"])
        else:  # only routed: the device's estimate for its choice
            cost = float(estimated[0]["cost_usd"]) if estimated else float("nan")
        propensity = d.get("propensity") if model == d.get("target") else None
        row = {"id": did, "prompt": text, "model": aliases.get(model, model)}
        row.update(score=score, cost=cost, device_task=d.get("task"), propensity=propensity)
        row["candidates"] = [
            {
                "model": aliases.get(c["target"], c["target"]),
                "quality": c["quality"],
                "utility": c["utility"],
                "cost_usd": c["cost_usd"],
                "eligible": c.get("masked_by") is None,
            }
            for c in d.get("candidates") or []
            if c.get("kind") != "agent"
        ]
        row["fold"] = crossfit_fold(text)
        row["router_version"] = d.get("router_version")
        rows.append(row)
    return {"rows": rows, "skipped": skipped}


def crossfit_fold(prompt: str) -> int:
    """The cross-fitting fold of a logged outcome: a hash of its prompt, not of its decision.

    A prompt asked twice is in one fold, so the out-of-fold prediction the gate
    checks an outcome against never learned from the same prompt's other
    outcome; and a fold does not hang on the decision's random id, so the same
    traffic gives the same folds (and gate figures) on every run.
    """
    return zlib.crc32(prompt.encode("utf-8")) % CROSSFIT_FOLDS


def logged_prompts(fleet_db: str | Path) -> list[str]:
    """The distinct texts of every collected LLM decision, with feedback or not."""
    seen: dict[str, None] = {}
    for d in iter_collected(fleet_db):
        if d.get("stage") == "llm" and d.get("query_text"):
            seen.setdefault(d["query_text"], None)
    return list(seen)


def merge_routing(
    base: Any | None, logged: Sequence[Mapping[str, Any]], offered: Iterable[str] = ()
) -> Any:
    """The base ``RoutingSet`` (if any) plus logged partial rows, as one ``RoutingSet``.

    Models are the base pool plus every logged model and every ``offered``
    one (a candidate the devices saw, scored or not); entries a row did not
    observe are NaN (the trainer leaves them out). Logged rows have no task:
    the base file's tasks are benchmarks a device cannot name.
    """
    import hashlib

    import numpy as np

    from .routing_data import RoutingSet

    base_models = tuple(base.models) if base is not None else ()
    n_base = len(base) if base is not None else 0
    new = ({r["model"] for r in logged} | set(offered)) - set(base_models)
    models = base_models + tuple(sorted(new))
    col = {m: i for i, m in enumerate(models)}
    n, k = n_base + len(logged), len(models)
    scores = np.full((n, k), np.nan)
    costs = np.full((n, k), np.nan)
    if base is not None:
        scores[:n_base, : len(base_models)] = base.scores
        costs[:n_base, : len(base_models)] = base.costs
    for i, r in enumerate(logged, n_base):
        scores[i, col[r["model"]]] = r["score"]
        costs[i, col[r["model"]]] = r["cost"]
    digest = hashlib.sha256((base.sha256 if base is not None else "").encode())
    for r in logged:
        digest.update(f"\n{r['id']}\t{r['model']}\t{r['score']!r}".encode())
    return RoutingSet(
        path=base.path if base is not None else "",
        ids=(tuple(base.ids) if base is not None else ()) + tuple(r["id"] for r in logged),
        prompts=(tuple(base.prompts) if base is not None else ())
        + tuple(r["prompt"] for r in logged),
        tasks=(tuple(base.tasks) if base is not None else ()) + (None,) * len(logged),
        models=models,
        scores=scores,
        costs=costs,
        sha256=digest.hexdigest(),
    )


def importance_weights(data: Any, logged: Sequence[Mapping[str, Any]]) -> Any:
    """(n, models) weights for ``merge_routing``'s rows: ``1 / propensity`` for a logged
    outcome with a propensity, 1 otherwise (base rows, pinned or fallback answers)."""
    import numpy as np

    weights = np.ones(data.scores.shape)
    n_base = len(data) - len(logged)
    col = {m: i for i, m in enumerate(data.models)}
    for i, r in enumerate(logged, n_base):
        p = r.get("propensity")
        if p:
            weights[i, col[r["model"]]] = 1.0 / float(p)
    return weights


FLEET_PESSIMISM = 2.0
"""Standard errors a retrained table cell is lowered by (``task_table.pessimistic``).

Partial feedback leaves most cells thin, and a candidate that trusts a thin
cell's lucky outcomes both routes worse and changes many decisions the gate
cannot vouch for. On llmrouter (seed 0, round 5's feedback of a loop that never
promoted) 0, 1 and 2 gave the device's routing value 0.472, 0.484 and 0.503 on
the test part (full information: 0.527) and AIQ 0.531, 0.516 and 0.516: a
pessimistic router is better at the device's tradeoff and a little worse at the
quality end of the curve, where the thin cells are the dear models."""


def fleet_train_config(seed: int = 0) -> Any:
    """The trainer settings ``retrain_routing`` uses: the default's, pessimistic."""
    from .quality import default_train_config

    return replace(default_train_config(), seed=seed, pessimism=FLEET_PESSIMISM)


def retrain_routing(
    fleet_db: str | Path,
    base_train: str | Path | None,
    current: str | Path,
    out_dir: str | Path,
    work_dir: str | Path,
    *,
    aliases: Mapping[str, str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a candidate routing bundle from logged outcomes (plus a base routing file).

    Trains through ``edge_moma.training.quality.train_quality`` (the code of
    ``edge-moma train routing``) with the current bundle's featurizer, so the
    candidate installs where the current one does; logged outcomes count
    ``1 / propensity`` (capped) so the policy that chose them does not bias the
    predictor, and every logged prompt (with feedback or not) shapes its
    features and pseudo-tasks. The candidate knows every model the devices
    were offered, scored or not (``merge_routing``'s ``offered``). Every
    logged outcome trains the candidate, and
    each is also predicted by the same recipe trained without its fold
    (``out_of_fold_quality``): ``work_dir/logged_outcomes.jsonl`` holds them
    for ``gate_routing``.
    """
    import numpy as np

    from ..routing.features import Featurizer
    from ..routing.quality import KIND
    from .quality import out_of_fold_quality, train_quality
    from .routing_data import load_routing_set

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    logged = logged_routing_rows(fleet_db, aliases)
    rows = logged["rows"]
    base = load_routing_set(base_train) if base_train else None
    if base is None and not rows:
        raise DataError(
            "nothing to train on: no logged LLM decision with feedback and text; "
            "collect more batches or pass --base ROUTING_FILE"
        )
    # Every model the devices were offered: one never scored still gets a (pessimistic)
    # table column, so the device does not score it by priors that may beat what was
    # learned, and the gate judges exactly what the device will run.
    data = merge_routing(base, rows, offered={c["model"] for r in rows for c in r["candidates"]})
    trained = set(data.prompts)
    extra = [t for t in logged_prompts(fleet_db) if t not in trained]
    featurizer = Featurizer.from_params(verify_bundle(current, KIND)["featurizer"])
    cfg = fleet_train_config(seed)
    weights = importance_weights(data, rows)
    card = train_quality(
        data,
        out_dir,
        cfg,
        data_path=str(base_train) if base_train else "(logged decisions)",
        featurizer=featurizer,
        weights=weights,
        extra_prompts=extra,
    )
    n_base = len(data) - len(rows)
    folds = np.r_[np.full(n_base, -1), [r["fold"] for r in rows]].astype(np.int64)
    oof = out_of_fold_quality(data, folds, cfg, featurizer, weights=weights, extra_prompts=extra)
    outcomes = work / "logged_outcomes.jsonl"
    with outcomes.open("w", encoding="utf-8") as fh:
        for r, q in zip(rows, oof[n_base:], strict=True):
            mine = dict(zip(data.models, q.tolist(), strict=True))
            fh.write(json.dumps({**r, "candidate_quality": mine}) + "\n")
    counts = {
        "base_rows": len(base) if base is not None else 0,
        "logged_rows": len(rows),
        "logged_with_propensity": sum(1 for r in rows if r.get("propensity")),
        "logged_prompts_without_feedback": len(extra),
        "logged_models": sorted({r["model"] for r in rows}),
        "skipped": logged["skipped"],
    }
    return {"card": card, "logged": counts, "outcomes_file": str(outcomes)}


def gate_routing(
    candidate: str | Path,
    current: str | Path,
    holdout_files: Sequence[str | Path],
    logged_outcomes: str | Path | None,
    report_path: str | Path,
    *,
    tolerance: float = 0.0,
    confidence: float = 0.95,
    min_disagreements: int = MIN_DISAGREEMENTS,
) -> dict[str, Any]:
    """Promote the candidate only if the routing value it would have achieved is not worse.

    The figure that decides is ``value``: over the logged decisions with
    feedback and a propensity (``retrain_routing``'s outcomes file, each with
    the candidate recipe's out-of-fold prediction) that the installed router
    logged itself (``logged_by``; every one when it logged none), the utility — observed
    score minus the device's cost term, the policy's own rule — that the
    candidate's and the current (installed) predictor's greedy choices would
    have achieved on every row, whichever router logged it, estimated
    off-policy with the doubly-robust estimator and compared decision by
    decision (``routing_value``). ``promote`` when the one-sided
    ``confidence`` lower bound of (candidate - current) — the lower end of the
    two-sided ``2 * confidence - 1`` bootstrap interval — is at
    least ``-tolerance``, and the two choose differently on at least
    ``min_disagreements`` of the decisions judged. Brier scores against every
    observed score of the ``--holdout`` files and the logged outcomes are the
    secondary figure. No
    usable logged decision: not promoted, and the report says why. Each
    judged decision's two choices (``routing_value``'s ``choices``) go to
    ``value.choices_file``, the report's name with ``.choices.jsonl``.
    """
    from ..routing.quality import QualityPredictor

    cand, cur = QualityPredictor.load(candidate), QualityPredictor.load(current)
    logged_rows = _read_logged(logged_outcomes)
    held_out = logged_by(logged_rows, cur.version)
    value = routing_value(
        _with_current_quality(held_out or logged_rows, cur), level=2 * confidence - 1
    )
    value["judged_on"] = (
        "decisions the installed router logged" if held_out else "every logged decision"
    )
    # Each judged decision's two choices, beside the report (one line a decision: too many
    # for the report, which a release carries): what an audit of the gate starts from.
    choices_file = Path(report_path).with_suffix(".choices.jsonl")
    choices_file.parent.mkdir(parents=True, exist_ok=True)
    choices_file.write_text(
        "".join(json.dumps(c) + "\n" for c in value.pop("choices", [])), encoding="utf-8"
    )
    value["choices_file"] = str(choices_file)
    low = value["delta_interval"][0]
    report: dict[str, Any] = {
        "kind": "routing",
        "metric": "value",
        "tolerance": tolerance,
        "confidence": confidence,
        "value": value,
        "brier": _brier(cand, cur, holdout_files, logged_rows),
        "holdout_files": [str(f) for f in holdout_files],
        "logged_outcomes": None if logged_outcomes is None else str(logged_outcomes),
        "candidate": {"version": cand.version, "models": list(cand.models)},
        "current": {"version": cur.version, "models": list(cur.models)},
    }
    enough = value.get("disagree", 0) >= min_disagreements
    report["min_disagreements"] = min_disagreements
    report["promote"] = low is not None and low >= -tolerance and enough
    if low is not None and not enough:
        report["why"] = (
            f"the routers disagree on {value['disagree']} of {value['decisions']} decisions "
            f"judged, fewer than {min_disagreements}: too few to trust the interval"
        )
    report["decided_at"] = time.time()
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _read_logged(path: str | Path | None) -> list[dict[str, Any]]:
    if not path or not Path(path).is_file():
        return []
    return [r for _, r in read_records(path)]


def logged_by(rows: Sequence[Mapping[str, Any]], routing_version: str) -> list[dict[str, Any]]:
    """The rows a device logged while ``routing_version`` was its routing bundle.

    The installed router never trained on them (it was built before it logged
    them), so its choices there are judged out of sample, like the
    candidate's out-of-fold ones: on llmrouter (seed 0) the installed router's
    estimated value on every logged decision was 0.07 above its true value on
    those prompts, and the gate refused truly better candidates.
    """
    return [dict(r) for r in rows if _routing_part(r.get("router_version")) == routing_version]


def _routing_part(router_version: Any) -> str | None:
    """The routing bundle's version in a decision's ``router_version``
    (``intent:<v>+routing:<v>``, then ``+hint:<v>`` while an exploration hint was used);
    None when it names none."""
    parts = dict(p.partition(":")[::2] for p in str(router_version or "").split("+"))
    return parts.get("routing")


def _with_current_quality(rows: list[dict[str, Any]], current: Any) -> list[dict[str, Any]]:
    """Each row with ``current_quality``: the installed predictor's quality of every model
    it knows for the row's prompt.

    The gate compares the candidate with the router the devices run *now*, not
    with whichever router logged each decision: after a promotion the older rows
    were chosen by a router that is no longer installed, and beating it says
    nothing about beating the installed one. ``gate_routing`` passes the rows the
    installed router logged (``logged_by``) when there are any: on older rows it
    may have trained (in sample, its choices look better than they are).
    """
    prompts = sorted({r["prompt"] for r in rows})
    if not prompts:
        return rows
    quality, _ = current.known_batch(prompts)
    mine = {
        p: dict(zip(current.models, q.tolist(), strict=True))
        for p, q in zip(prompts, quality, strict=True)
    }
    return [{**r, "current_quality": mine[r["prompt"]]} for r in rows]


def routing_value(
    rows: Sequence[Mapping[str, Any]],
    *,
    level: float = 0.95,
    max_weight: float = math.inf,
) -> dict[str, Any]:
    """Off-policy utility of the candidate's and the current router's greedy choices.

    For each usable row: the candidates the device saw (eligible ones only),
    ``d = utility - quality`` (the device's cost and energy terms), the current
    router's choice (``current_quality`` + ``d``, ``utility.order``'s ties;
    without ``current_quality`` the logged quality, i.e. the router that logged
    the row) and the candidate's (``candidate_quality``, its out-of-fold
    prediction, + ``d``); a model either does not know keeps the logged
    quality. Reward is the feedback score of the logged choice; the DR reward
    model is the candidate's prediction less its per-model error on the other
    folds (``crossfit_bias``), with importance weights capped at ``max_weight``
    — by default not at all: on llmrouter a cap of 10 leaned the estimate toward
    the candidate's own view and promoted a router that was worse on the test
    part (README, fleet loop). ``support``: the decisions where the two choose
    differently and the candidate's choice is the one that answered, the only
    ones where its side of the difference is observed.

    ``choices``: per usable row, its ``id``, the ``model`` that answered, the
    candidate's and the current router's choice and each choice's cost term
    (``d``): what each router would have served on the decisions judged.
    """
    import numpy as np

    from ..routing.utility import order
    from .off_policy import bootstrap_interval, crossfit_bias, doubly_robust, ips, snips

    usable = [
        r
        for r in rows
        if r.get("propensity") and any(c["model"] == r["model"] for c in r.get("candidates", []))
    ]
    out: dict[str, Any] = {
        "decisions": len(usable),
        "skipped_without_propensity": len(rows) - len(usable),
        "delta_interval": [None, None],
    }
    if not usable:
        out["why"] = "no held-out logged decision with feedback and a propensity"
        return out
    width = max(len(r["candidates"]) for r in usable)
    n = len(usable)
    new_q = np.zeros((n, width))
    other = np.full((n, width), -np.inf)  # d = utility - quality; -inf where not a candidate
    cur_choice, cand_choice, logged = (np.zeros(n, dtype=np.int64) for _ in range(3))
    for i, r in enumerate(usable):
        cands = r["candidates"]
        logged_q = [float(c["quality"]) for c in cands]
        d = [float(c["utility"]) - q for c, q in zip(cands, logged_q, strict=True)]
        theirs, mine = r.get("current_quality") or {}, r.get("candidate_quality") or {}
        q0 = [float(theirs.get(c["model"], q)) for c, q in zip(cands, logged_q, strict=True)]
        q1 = [float(mine.get(c["model"], q)) for c, q in zip(cands, logged_q, strict=True)]
        cost = [float(c["cost_usd"]) for c in cands]
        ok = [bool(c["eligible"]) for c in cands]
        cur_choice[i] = next(
            j for j in order([q + e for q, e in zip(q0, d, strict=True)], cost, q0) if ok[j]
        )
        cand_choice[i] = next(
            j for j in order([q + e for q, e in zip(q1, d, strict=True)], cost, q1) if ok[j]
        )
        logged[i] = next(j for j, c in enumerate(cands) if c["model"] == r["model"])
        new_q[i, : len(cands)], other[i, : len(cands)] = q1, d
    reward = np.array([float(r["score"]) for r in usable])
    prop = np.array([float(r["propensity"]) for r in usable])
    # The reward model: the candidate's predictions, less their per-model error on the
    # other folds' decisions, so its self-assessment is checked.
    folds = np.array([int(r.get("fold", 0)) for r in usable])
    model = crossfit_bias(logged, prop, reward, new_q, folds, max_weight=max_weight)
    rows_ = np.arange(n)
    figures: dict[str, Any] = {}
    terms = {}
    for name, choice in (("candidate", cand_choice), ("current", cur_choice)):
        cost_term = other[rows_, choice]
        dr = doubly_robust(choice, logged, prop, reward, model, max_weight)
        terms[name] = dr + cost_term
        figures[name] = {
            "value": round(float(terms[name].mean()), 6),
            "quality_dr": round(float(dr.mean()), 6),
            "quality_ips": round(float(ips(choice, logged, prop, reward).mean()), 6),
            "quality_snips": round(snips(choice, logged, prop, reward), 6),
            "cost_term": round(float(cost_term.mean()), 6),
        }
    delta = terms["candidate"] - terms["current"]
    low, high = bootstrap_interval(delta, level)
    out.update(figures)
    out["disagree"] = int((cand_choice != cur_choice).sum())
    out["support"] = int(((cand_choice != cur_choice) & (cand_choice == logged)).sum())
    out["delta"] = round(float(delta.mean()), 6)
    out["delta_interval"] = [round(low, 6), round(high, 6)]
    out["choices"] = [
        {
            "id": r.get("id"),
            "model": r["model"],
            "candidate": r["candidates"][j1]["model"],
            "current": r["candidates"][j0]["model"],
            "candidate_cost_term": float(other[i, j1]),
            "current_cost_term": float(other[i, j0]),
        }
        for i, (r, j1, j0) in enumerate(zip(usable, cand_choice, cur_choice, strict=True))
    ]
    return out


def _brier(
    cand: Any, cur: Any, holdout_files: Sequence[str | Path], logged: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Brier scores of both predictors on every observed held-out score (the old gate's
    figure, kept as a secondary one): the models both know, and new models apart."""
    import numpy as np

    from .routing_data import load_routing_set

    entries: list[tuple[str, str, float]] = []  # (prompt, model, observed score)
    for f in holdout_files:
        data = load_routing_set(f)
        for prompt, row in zip(data.prompts, data.scores, strict=True):
            entries += [(prompt, m, float(s)) for m, s in zip(data.models, row, strict=True)]
    entries += [(r["prompt"], r["model"], float(r["score"])) for r in logged]
    prompts = sorted({p for p, _, _ in entries})
    predicted = {}
    for name, model in (("candidate", cand), ("current", cur)):
        quality, _ = model.known_batch(prompts)
        predicted[name] = {
            p: dict(zip(model.models, q, strict=True))
            for p, q in zip(prompts, quality, strict=True)
        }
    # A logged outcome trained the candidate: it is scored by its out-of-fold prediction.
    for r in logged:
        predicted["candidate"][r["prompt"]].update(r.get("candidate_quality") or {})

    def brier(name: str, models: set[str]) -> tuple[float | None, int]:
        errs = [(predicted[name][p][m] - s) ** 2 for p, m, s in entries if m in models]
        return (round(float(np.mean(errs)), 6) if errs else None), len(errs)

    common = set(cand.models) & set(cur.models)
    c_value, n = brier("candidate", common)
    k_value, _ = brier("current", common)
    new_models = set(cand.models) - set(cur.models)
    new_value, new_n = brier("candidate", new_models)
    return {
        "entries": n,
        "candidate": c_value,
        "current": k_value,
        "delta": None if c_value is None or k_value is None else round(c_value - k_value, 6),
        "new_models": {"models": sorted(new_models), "brier": new_value, "entries": new_n},
    }
