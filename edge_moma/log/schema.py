"""The decision log's SQLite schema, its migrations, and opening a database safely.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[i]`` takes a
database from version ``i`` to ``i + 1``; opening a database applies the ones it
lacks in one transaction each, so an old log is upgraded in place and keeps its
rows. A schema change is a new entry at the end of the list, never an edit of
an old one (the tests build a database at every earlier version and upgrade it).

History:

1. ``decisions`` (one row per decision) and ``attempts`` (one row per try of a target).
2. ``feedback`` (score / correctness for a decision id), ``spend`` (the budget
   ledger), and the decision's ``text_mode`` and ``features_version``.
3. ``synced`` flag and ``sync_state`` (the export cursor).
4. ``synced`` dropped again: the export cursor alone says what is synced, and
   marking every exported row rewrote the whole table (4 s per million rows).
5. A decision is one JSON document (``decisions.body``: the batch line without
   ``schema``, ``id`` and ``seq``, attempts included) next to the few columns
   that are queried (``id``, ``created``, ``target``, attempt counts); no index
   on ``id``; ``attempts`` becomes a view over the documents. Writing 19 columns
   plus a UNIQUE index on a random id and an attempts table indexed by it cost
   about 25 us a decision (the random index alone more than half); the document
   is written as one value and exported without rebuilding it. Lookups by id
   (``log show``, ``feedback``: by hand, rare) scan the table, which
   ``log_max_mb`` keeps small.

A file that is not a database, or fails SQLite's quick check, is moved aside
(``decisions.db.corrupt-<time>``) and a fresh log is started: a broken log must
never stop routing.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from ..errors import LogError

logger = logging.getLogger(__name__)

# Version 4's export line for a decision, from "device_id" on, as one JSON object.
_V4_FIELDS = (
    ("device_id", "json_quote(d.device_id)"),
    ("created", "printf('%!.17g', d.created)"),
    ("router_version", "json_quote(d.router_version)"),
    ("features_version", "json_quote(d.features_version)"),
    ("query_sha256", "json_quote(d.query_sha256)"),
    ("query_text", "json_quote(d.query_text)"),
    ("text_mode", "json_quote(d.text_mode)"),
    ("stage", "json_quote(d.stage)"),
    ("target", "json_quote(d.target)"),
    ("fallbacks", "d.fallbacks"),
    ("reason", "json_quote(d.reason)"),
    ("intents", "d.intents"),
    (
        "out_of_scope",
        "CASE WHEN d.out_of_scope IS NULL THEN 'null' "
        "WHEN d.out_of_scope THEN 'true' ELSE 'false' END",
    ),
    ("task", "json_quote(d.task)"),
    ("task_confidence", "json_quote(d.task_confidence)"),
    ("all_masked", "CASE WHEN d.all_masked THEN 'true' ELSE 'false' END"),
    ("candidates", "d.candidates"),
    ("context", "d.context"),
    (
        "attempts",
        "coalesce((SELECT json_group_array(json_object("
        "'target', a.target, 'latency_s', a.latency_s, 'prompt_tokens', a.prompt_tokens, "
        "'completion_tokens', a.completion_tokens, 'cost_usd', a.cost_usd, 'error', a.error)) "
        "FROM (SELECT * FROM attempts WHERE decision_id = d.id ORDER BY n) AS a), '[]')",
    ),
)
_V4_BODY = (
    "printf('{"
    + ",".join(f'"{name}":%s' for name, _ in _V4_FIELDS)
    + "}', "
    + ", ".join(expr for _, expr in _V4_FIELDS)
    + ")"
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE decisions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            created REAL NOT NULL,
            device_id TEXT NOT NULL,
            router_version TEXT NOT NULL,
            query_sha256 TEXT NOT NULL,
            query_text TEXT,
            stage TEXT NOT NULL,
            target TEXT,
            fallbacks TEXT NOT NULL,
            reason TEXT NOT NULL,
            intents TEXT NOT NULL,
            out_of_scope INTEGER,
            task TEXT,
            task_confidence REAL,
            all_masked INTEGER NOT NULL,
            candidates TEXT NOT NULL,
            context TEXT NOT NULL
        )""",
        """CREATE TABLE attempts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            decision_id TEXT NOT NULL,
            n INTEGER NOT NULL,
            target TEXT NOT NULL,
            latency_s REAL NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL,
            error TEXT
        )""",
        "CREATE INDEX attempts_decision ON attempts (decision_id)",
    ),
    (
        """CREATE TABLE feedback (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            decision_id TEXT NOT NULL,
            created REAL NOT NULL,
            score REAL,
            correct INTEGER,
            source TEXT NOT NULL DEFAULT 'user',
            note TEXT
        )""",
        "CREATE INDEX feedback_decision ON feedback (decision_id)",
        """CREATE TABLE spend (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            target TEXT NOT NULL,
            usd REAL NOT NULL
        )""",
        "CREATE INDEX spend_at ON spend (at)",
        "ALTER TABLE decisions ADD COLUMN text_mode TEXT NOT NULL DEFAULT 'hash'",
        "ALTER TABLE decisions ADD COLUMN features_version INTEGER",
    ),
    (
        "ALTER TABLE decisions ADD COLUMN synced INTEGER NOT NULL DEFAULT 0",
        "CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    ("ALTER TABLE decisions DROP COLUMN synced",),
    (
        """CREATE TABLE decisions_v5 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL,
            created REAL NOT NULL,
            target TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            body TEXT NOT NULL
        )""",
        # The version-4 rows as the version-4 export wrote them (frozen here: later
        # versions change the export, never this migration).
        f"""INSERT INTO decisions_v5 (seq, id, created, target, attempts, failed, body)
            SELECT d.seq, d.id, d.created, d.target,
                (SELECT count(*) FROM attempts a WHERE a.decision_id = d.id),
                (SELECT count(*) FROM attempts a WHERE a.decision_id = d.id
                    AND a.error IS NOT NULL),
                {_V4_BODY}
            FROM decisions d ORDER BY d.seq""",
        # Keep the AUTOINCREMENT high-water mark: seq never goes back (the sync cursor).
        """UPDATE sqlite_sequence SET seq = max(seq, coalesce(
            (SELECT seq FROM sqlite_sequence WHERE name = 'decisions'), 0))
            WHERE name = 'decisions_v5'""",
        """INSERT INTO sqlite_sequence (name, seq)
            SELECT 'decisions_v5', seq FROM sqlite_sequence WHERE name = 'decisions'
            AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'decisions_v5')""",
        "DROP TABLE decisions",
        "DROP TABLE attempts",
        "ALTER TABLE decisions_v5 RENAME TO decisions",
        """CREATE VIEW attempts AS SELECT
            d.id AS decision_id,
            d.seq AS decision_seq,
            CAST(a.key AS INTEGER) AS n,
            json_extract(a.value, '$.target') AS target,
            json_extract(a.value, '$.latency_s') AS latency_s,
            json_extract(a.value, '$.prompt_tokens') AS prompt_tokens,
            json_extract(a.value, '$.completion_tokens') AS completion_tokens,
            json_extract(a.value, '$.cost_usd') AS cost_usd,
            json_extract(a.value, '$.error') AS error
        FROM decisions d, json_each(d.body, '$.attempts') AS a
        WHERE d.attempts > 0""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
PAGE_SIZE = 16384
BUSY_TIMEOUT_MS = 2000


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, upto: int = SCHEMA_VERSION) -> int:
    """Apply the migrations the database lacks (up to ``upto``); return the new version.

    A database from a newer edge-moma is refused rather than written in a shape
    this version does not understand.
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise LogError(
            f"the decision log has schema version {version}, newer than this edge-moma's "
            f"{SCHEMA_VERSION}; upgrade edge-moma or point [runtime] data_dir elsewhere"
        )
    for target in range(version, upto):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return max(version, upto)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def move_aside(path: Path) -> Path:
    """Rename a broken database (and its -wal/-shm files) out of the way."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    n = 0
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{n}")
    path.replace(aside)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.replace(aside.with_name(aside.name + suffix))
    logger.warning("decision log %s was corrupt; moved it to %s and started a new one", path, aside)
    return aside


def is_corruption(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def open_log_db(
    path: str | Path, *, readonly: bool = False, recover: bool = True
) -> tuple[sqlite3.Connection, Path | None]:
    """Open (creating and migrating) the log at ``path``; return it and where a corrupt file went.

    ``readonly`` opens an existing log for reading (``edge-moma log ...``) and
    never migrates or moves anything. Errors become ``LogError`` saying what to do.
    """
    path = Path(path)
    moved: Path | None = None
    for _ in range(2):
        try:
            if readonly:
                if not path.is_file():
                    raise LogError(
                        "no decision log yet; route something first (logging is on by default)",
                        path=str(path),
                    )
                conn = _connect(path, readonly=True)
                version = schema_version(conn)
                if version != SCHEMA_VERSION:
                    conn.close()
                    raise LogError(
                        f"the decision log has schema version {version}, this edge-moma reads "
                        f"{SCHEMA_VERSION}; open it once with the runtime to upgrade it",
                        path=str(path),
                    )
                return conn, None
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = _connect(path, readonly=False)
            try:
                if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("database disk image is malformed")
                if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                    # A new file; both settings only take before WAL mode and the first
                    # table. A decision is about 1.3 kB: on 16 kB pages a write costs
                    # ~40% less CPU than on the default 4 kB (fewer page splits and WAL
                    # frames). Incremental auto-vacuum lets size retention give pages
                    # back (set after WAL mode, as before, it never took effect).
                    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                migrate(conn)
            except BaseException:
                conn.close()
                raise
            return conn, moved
        except LogError:
            raise
        except sqlite3.DatabaseError as exc:
            if recover and not readonly and is_corruption(exc) and path.exists() and not moved:
                moved = move_aside(path)
                continue
            raise LogError(describe(exc), path=str(path)) from exc
        except OSError as exc:
            raise LogError(f"cannot create the log ({exc}); check [runtime] data_dir") from exc
    raise LogError("the decision log could not be recreated", path=str(path))


def describe(exc: sqlite3.Error) -> str:
    """A sqlite error in words a user can act on."""
    text = str(exc)
    low = text.lower()
    if "readonly" in low or "read-only" in low:
        return f"the log is read-only ({text}); fix the file's permissions or [runtime] data_dir"
    if "locked" in low or "busy" in low:
        return f"the log is locked by another process ({text}); retry, or stop the other writer"
    if "full" in low:
        return f"the disk is full ({text}); free space or lower [runtime] log_max_mb"
    if "unable to open" in low:
        return f"cannot open the log ({text}); check [runtime] data_dir exists and is writable"
    if is_corruption(exc):
        return f"the log is corrupt ({text}); the runtime moves it aside and starts a new one"
    return text
