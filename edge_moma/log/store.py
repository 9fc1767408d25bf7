"""Synchronous access to the decision log: insert rows, query, feedback, retention.

``DecisionLog`` (the runtime's sink) writes through a ``LogStore`` from its
writer thread; the CLI (``edge-moma log``, ``feedback``, ``sync export``) opens
its own ``LogStore`` on the same file — SQLite's WAL lets one writer and many
readers share it across processes.

One SQL expression (``DECISION_JSON``) turns a stored decision into the JSON
object that ``log show``, ``log tail --json`` and the sync batches all use, so
the batch format is defined in exactly one place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import DecisionNotFound, LogError, RequestError
from ..untrusted import is_unicode
from .schema import SCHEMA_VERSION, describe, open_log_db
from .sinks import LogRecord

TEXT_MODES = ("store", "redact", "hash")
ID_LENGTH = 32  # a decision id: 32 lowercase hex characters
_ID_PREFIX = re.compile(f"[0-9a-f]{{1,{ID_LENGTH}}}")
_SHOWN = 5  # ids an ambiguous prefix lists
# Export moves this cursor along seq: decisions with seq <= cursor are synced, so
# the synced rows are always the oldest ones.
CURSOR_DECISIONS = "cursor.decisions"
_SYNCED = "(d.seq <= coalesce((SELECT CAST(value AS INTEGER) FROM sync_state "
_SYNCED += f"WHERE key = '{CURSOR_DECISIONS}'), 0))"

# A stored decision is its batch line without the leading "schema", "id" and
# "seq" (``decisions.body``, one JSON object written by ``encode``): the export
# splices those three in front with one printf() and copies the rest.
DECISION_JSON = (
    'printf(\'{"schema":%d,"id":%s,"seq":%d,%s\', '
    + str(SCHEMA_VERSION)
    + ", json_quote(d.id), d.seq, substr(d.body, 2))"
)

FEEDBACK_JSON = f"""json_object(
    'schema', {SCHEMA_VERSION},
    'decision_id', f.decision_id,
    'seq', f.seq,
    'device_id', ?,
    'created', f.created,
    'score', f.score,
    'correct', CASE WHEN f.correct IS NULL THEN NULL
        WHEN f.correct THEN json('true') ELSE json('false') END,
    'source', f.source,
    'note', f.note
)"""

# Rows per INSERT statement: the sqlite3 module hands the GIL back and takes it
# again around every statement step, so one step per row (executemany) made the
# writer trade the GIL with routing threads for every decision.
INSERT_CHUNK = 64
# Rows deleted per retention transaction: a few milliseconds, so the writer that
# prunes between two batches never lets the queue back up.
PRUNE_CHUNK = 1000


@functools.lru_cache(maxsize=2)
def _insert_decisions(n: int) -> str:
    """An INSERT of ``n`` decision rows in one statement."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * n)
    return f"INSERT INTO decisions (id, created, target, attempts, failed, body) VALUES {values}"


def _plain(value: Any) -> Any:
    """JSON fallback for values that reach a decision's context (numpy scalars, sets, ...)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _plain_or_fields(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return _plain(value)


# orjson writes the candidates, intents and attempts (frozen dataclasses) field by
# field in declaration order, NaN and infinities as null, numpy scalars as numbers:
# about 5 us a decision against 20 for the same JSON formatted in Python.
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_orjson_dumps = orjson.dumps
_fallback_dumps = json.JSONEncoder(separators=(",", ":"), default=_plain_or_fields).encode


@dataclass(frozen=True)
class Feedback:
    """A score (0..1) and/or correctness for one decision, from the user or the app."""

    decision_id: str
    score: float | None = None
    correct: bool | None = None
    source: str = "user"
    note: str | None = None
    created: float = 0.0

    def check(self) -> Feedback:
        """``self`` if every field can be stored; a value the writer could not store
        would cost the whole batch it is written with."""
        if not isinstance(self.decision_id, str) or not self.decision_id:
            raise RequestError("feedback needs a decision id", param="decision_id")
        if self.score is None and self.correct is None:
            raise RequestError("feedback needs a score (0..1) or correct true/false")
        score = self.score
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1
        ):
            raise RequestError(f"feedback score must be from 0 to 1, got {score!r}", param="score")
        if self.correct is not None and not isinstance(self.correct, bool):
            raise RequestError(
                f"feedback correct must be true or false, got {self.correct!r}", param="correct"
            )
        for key in ("note", "source"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, str) and is_unicode(value)):
                raise RequestError(
                    f"feedback {key} must be text (valid Unicode), got {type(value).__name__}",
                    param=key,
                )
        return self


@dataclass(frozen=True)
class Spend:
    at: float
    target: str
    usd: float


Row = tuple[str, float, str | None, int, int, str]


def encode(
    rec: LogRecord, device_id: str, text_mode: str, redact: Callable[[str], str] | None
) -> Row:
    """The ``decisions`` row of one record: id, created, target, attempt counts and the
    JSON document (the batch line's fields from ``device_id`` on); text per ``text_mode``."""
    d = rec.decision
    u = d.understanding
    if text_mode == "store":
        text: str | None = rec.text
    elif text_mode == "redact":
        text = redact(rec.text) if redact else rec.text
    else:
        text = None
    tried = rec.attempts
    doc = {
        "device_id": device_id,
        "created": d.created,
        "router_version": d.router_version,
        "features_version": rec.features_version,
        "query_sha256": d.context.query_sha256,
        "query_text": text,
        "text_mode": text_mode,
        "stage": d.stage,
        "target": d.target,
        "fallbacks": d.fallbacks,
        "reason": d.reason,
        "intents": () if u is None else u.intents,
        "out_of_scope": None if u is None else u.out_of_scope,
        "task": None if u is None else u.task,
        "task_confidence": None if u is None else u.task_confidence,
        "all_masked": d.all_masked,
        "propensity": d.propensity,
        "explored": d.explored,
        "candidates": d.candidates,
        "context": d.context,
        "attempts": tried,
    }
    try:
        body = _orjson_dumps(doc, default=_plain, option=_ORJSON_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        # e.g. a lone surrogate in the text (not UTF-8): the standard library escapes it.
        body = _fallback_dumps(doc)
    failed = sum(1 for a in tried if a.error is not None) if tried else 0
    return (d.id, float(d.created), d.target, len(tried), failed, body)


def storable(text: str) -> str:
    """``text`` as SQLite can store it: a lone surrogate (valid in a JSON string, not in
    UTF-8) becomes its escape ``\\udXXX``, as in the decision's JSON document."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def disk_bytes(path: Path) -> int:
    """The bytes the log at ``path`` takes on disk: the database plus its write-ahead log."""
    total = 0
    for file in (path, path.with_name(path.name + "-wal")):
        with contextlib.suppress(OSError):  # not there (yet)
            total += file.stat().st_size
    return total


def decision_rows(
    records: Iterable[LogRecord],
    device_id: str,
    text_mode: str,
    redact: Callable[[str], str] | None,
) -> list[Row]:
    """The ``decisions`` rows of many records (see ``encode``)."""
    return [encode(rec, device_id, text_mode, redact) for rec in records]


class LogStore:
    """One open decision log database (``decisions.db``).

    Example::

        store = LogStore.open(data_dir / "decisions.db", readonly=True)
        print(store.stats()["decisions"])
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, moved_aside: Path | None = None):
        self.conn = conn
        self.path = path
        self.moved_aside = moved_aside

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> LogStore:
        conn, moved = open_log_db(path, readonly=readonly)
        return cls(conn, Path(path), moved)

    def close(self) -> None:
        self.conn.close()

    # --- writing ------------------------------------------------------------------

    def insert(
        self,
        rows: Iterable[Row],
        feedback: Sequence[Feedback] = (),
        spend: Sequence[Spend] = (),
    ) -> None:
        """Write one batch in one transaction (all or nothing); rows from ``encode``."""
        with self._transaction() as conn:
            rows = rows if isinstance(rows, list) else list(rows)
            for i in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[i : i + INSERT_CHUNK]
                conn.execute(_insert_decisions(len(chunk)), [v for row in chunk for v in row])
            if feedback:
                conn.executemany(
                    "INSERT INTO feedback (decision_id, created, score, correct, source, note) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            storable(f.decision_id),
                            f.created or time.time(),
                            f.score,
                            None if f.correct is None else int(f.correct),
                            storable(f.source),
                            None if f.note is None else storable(f.note),
                        )
                        for f in feedback
                    ],
                )
            if spend:
                conn.executemany(
                    "INSERT INTO spend (at, target, usd) VALUES (?, ?, ?)",
                    [(s.at, storable(s.target), s.usd) for s in spend],
                )

    def add_feedback(self, feedback: Feedback) -> str:
        """Record feedback for a logged decision (id or unique id prefix); return the full id."""
        feedback.check()
        full_id = self.resolve_id(feedback.decision_id)
        fb = Feedback(
            full_id,
            feedback.score,
            feedback.correct,
            feedback.source,
            feedback.note,
            feedback.created or time.time(),
        )
        self._guard(lambda: self.insert((), (fb,)))
        return full_id

    def _guard(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except sqlite3.Error as exc:
            raise LogError(describe(exc), path=str(self.path)) from exc

    # --- reading ------------------------------------------------------------------

    def resolve_id(self, decision_id: str) -> str:
        """The full id of the decision ``decision_id`` names (an id or a unique prefix)."""
        return self._resolve(decision_id)[1]

    def _resolve(self, decision_id: str) -> tuple[int, str]:
        """(seq, id) of the decision an id or unique id prefix names; ``DecisionNotFound``
        if none or several do (then it lists a few).

        There is no index on ``id`` (it would cost more than the rest of a write):
        this scans the table, newest first, which ``log_max_mb`` keeps small.
        """
        key = decision_id.lower() if isinstance(decision_id, str) else ""
        if not _ID_PREFIX.fullmatch(key):
            shown = repr(decision_id[:40]) if isinstance(decision_id, str) else "not a string"
            raise DecisionNotFound(
                f"{shown} is not a decision id: ids are 32 hex characters, and a unique "
                "prefix of one will do; `edge-moma log tail` lists them"
            )
        if len(key) == ID_LENGTH:
            sql = "SELECT seq, id FROM decisions WHERE id = ? ORDER BY seq DESC LIMIT 1"
            params: tuple[str, ...] = (key,)
        else:
            sql = (
                "SELECT seq, id FROM decisions WHERE id >= ? AND id < ? "
                f"ORDER BY seq DESC LIMIT {_SHOWN + 1}"
            )
            params = (key, key + "g")  # every id with this prefix sorts below prefix + "g"
        rows = self._guard(lambda: self.conn.execute(sql, params).fetchall())
        if not rows:
            raise DecisionNotFound(
                f"no logged decision with id {key!r}; `edge-moma log tail` lists them"
            )
        if len(rows) > 1:
            ids = [str(r[1]) for r in rows[:_SHOWN]]
            more = ", ..." if len(rows) > _SHOWN else ""
            raise DecisionNotFound(
                f"the id prefix {key!r} is ambiguous: it matches {', '.join(ids)}{more}; "
                "give more characters",
                matches=tuple(ids),
            )
        return int(rows[0][0]), str(rows[0][1])

    def show(self, decision_id: str) -> dict[str, Any]:
        """The decision as JSON (the batch format) with its feedback."""
        seq, full_id = self._resolve(decision_id)
        row = self._guard(
            lambda: self.conn.execute(
                f"SELECT {DECISION_JSON}, {_SYNCED} FROM decisions d WHERE d.seq = ?", (seq,)
            ).fetchone()
        )
        out: dict[str, Any] = json.loads(row[0])
        out["synced"] = bool(row[1])
        out["feedback"] = [
            json.loads(r[0])
            for r in self.conn.execute(
                f"SELECT {FEEDBACK_JSON} FROM feedback f WHERE f.decision_id = ? ORDER BY f.seq",
                (out["device_id"], full_id),
            )
        ]
        return out

    def tail(self, n: int = 10) -> list[dict[str, Any]]:
        """The last ``n`` decisions, oldest first."""
        rows = self._guard(
            lambda: self.conn.execute(
                f"SELECT {DECISION_JSON} FROM decisions d ORDER BY d.seq DESC LIMIT ?", (n,)
            ).fetchall()
        )
        return [json.loads(r[0]) for r in reversed(rows)]

    def iter_decisions(self, after_seq: int = 0, upto_seq: int | None = None) -> Iterator[str]:
        """Decision JSON lines (batch format) with ``after_seq < seq <= upto_seq``."""
        upto = upto_seq if upto_seq is not None else 1 << 62
        cur = self.conn.execute(
            f"SELECT {DECISION_JSON} FROM decisions d WHERE d.seq > ? AND d.seq <= ? "
            "ORDER BY d.seq",
            (after_seq, upto),
        )
        while True:
            chunk = cur.fetchmany(4096)
            if not chunk:
                return
            for (line,) in chunk:
                yield line

    def iter_feedback(
        self, device_id: str, after_seq: int = 0, upto_seq: int | None = None
    ) -> Iterator[str]:
        upto = upto_seq if upto_seq is not None else 1 << 62
        cur = self.conn.execute(
            f"SELECT {FEEDBACK_JSON} FROM feedback f WHERE f.seq > ? AND f.seq <= ? ORDER BY f.seq",
            (device_id, after_seq, upto),
        )
        for (line,) in cur:
            yield line

    def stats(self) -> dict[str, Any]:
        """Counts a user (and ``log stats --json``) asks about first."""

        def one(sql: str) -> Any:
            return self._guard(lambda: self.conn.execute(sql).fetchone()[0])

        page = one("PRAGMA page_size")
        used = (one("PRAGMA page_count") - one("PRAGMA freelist_count")) * page
        targets = dict(
            self._guard(
                lambda: self.conn.execute(
                    "SELECT coalesce(target, ''), count(*) FROM decisions GROUP BY target "
                    "ORDER BY count(*) DESC"
                ).fetchall()
            )
        )
        return {
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "decisions": one("SELECT count(*) FROM decisions"),
            "unsynced": one(f"SELECT count(*) FROM decisions d WHERE NOT {_SYNCED}"),
            "attempts": one("SELECT coalesce(sum(attempts), 0) FROM decisions"),
            "failed_attempts": one("SELECT coalesce(sum(failed), 0) FROM decisions"),
            "feedback": one("SELECT count(*) FROM feedback"),
            "spend_usd": one("SELECT coalesce(sum(usd), 0) FROM spend"),
            "first_created": one("SELECT min(created) FROM decisions"),
            "last_created": one("SELECT max(created) FROM decisions"),
            "targets": targets,
            "size_bytes": used,
        }

    def spend_since(self, since: float) -> list[tuple[float, str, float]]:
        return [
            (float(at), str(t), float(usd))
            for at, t, usd in self.conn.execute(
                "SELECT at, target, usd FROM spend WHERE at >= ? ORDER BY at", (since,)
            )
        ]

    # --- retention ------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes of the database's pages in use (its file size less the free pages)."""
        page, pages, free = self.pages()
        return (pages - free) * page

    def pages(self) -> tuple[int, int, int]:
        """``(page_size, page_count, freelist_count)``: three cheap pragmas."""
        c = self.conn
        return (
            int(c.execute("PRAGMA page_size").fetchone()[0]),
            int(c.execute("PRAGMA page_count").fetchone()[0]),
            int(c.execute("PRAGMA freelist_count").fetchone()[0]),
        )

    def disk_bytes(self) -> int:
        """What the log takes on disk: the database file plus its write-ahead log."""
        return disk_bytes(self.path)

    def limit_wal(self, max_bytes: int) -> None:
        """Keep the write-ahead log near ``max_bytes``: checkpoint at half of it and cut
        the file back to it after each checkpoint (SQLite leaves it at its largest)."""
        page = self.pages()[0]
        self.conn.execute(f"PRAGMA journal_size_limit = {int(max_bytes)}")
        self.conn.execute(f"PRAGMA wal_autocheckpoint = {max(16, int(max_bytes) // 2 // page)}")

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database and truncate it (a no-op while a
        reader in another process still needs the log: it is retried next time)."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def prune_step(
        self, *, max_age_days: float = 0.0, max_bytes: int = 0, now: float = 0.0
    ) -> tuple[int, int]:
        """Delete at most ``PRUNE_CHUNK`` of the oldest decisions (with their feedback) that
        are past ``max_age_days`` or, while the used pages exceed ``max_bytes``, the oldest
        ones; one short transaction, so a writer between two steps never waits long.

        Returns how many decisions and feedback rows were deleted; (0, 0) when nothing is
        left to prune.
        """
        if max_age_days > 0:
            cutoff = (now or time.time()) - max_age_days * 86_400.0
            decisions = self._delete(
                "SELECT seq, id FROM decisions WHERE created < ? ORDER BY seq LIMIT ?",
                (cutoff, PRUNE_CHUNK),
            )
            feedback = self._delete_feedback(
                "SELECT seq FROM feedback WHERE created < ? ORDER BY seq LIMIT ?",
                (cutoff, PRUNE_CHUNK),
            )
            if decisions or feedback:
                return decisions, feedback
        used = self.used_bytes() if max_bytes > 0 else 0
        if used > max_bytes > 0:
            first, last = self.conn.execute("SELECT min(seq), max(seq) FROM decisions").fetchone()
            rows = last - first + 1 if first is not None else 0
            excess = int((used - max_bytes) / max(1.0, used / max(rows, 1))) + 1
            decisions = self._delete(
                "SELECT seq, id FROM decisions ORDER BY seq LIMIT ?", (min(PRUNE_CHUNK, excess),)
            )
            if decisions:
                return decisions, 0
            # feedback for ids that are gone is all that is left
            return 0, self._delete_feedback(
                "SELECT seq FROM feedback ORDER BY seq LIMIT ?", (PRUNE_CHUNK,)
            )
        return 0, 0

    def give_back(self, max_pages: int = 512) -> None:
        """Return up to ``max_pages`` free pages to the file system (incremental vacuum)."""
        # execute() would step the pragma once (one page); executescript runs it out.
        self.conn.executescript(f"PRAGMA incremental_vacuum({int(max_pages)});")

    def prune(self, *, max_age_days: float = 0.0, max_bytes: int = 0, now: float = 0.0) -> int:
        """Delete old rows: by age, then by size, oldest first — so synced rows (always the
        oldest: export moves a cursor along seq) go before unsynced ones.

        Returns how many decisions and feedback rows were deleted. ``0`` disables a limit.
        Size pruning removes rows until the used pages fit in 90% of ``max_bytes``; it
        runs in short transactions (``prune_step``), then gives the pages back.
        """
        deleted = 0
        target = int(max_bytes * 0.9) if max_bytes > 0 and self.used_bytes() > max_bytes else 0
        while n := sum(self.prune_step(max_age_days=max_age_days, max_bytes=target, now=now)):
            deleted += n
        if deleted:
            free = self.pages()[2]
            while free:  # a log from before incremental auto-vacuum keeps its free pages
                self.give_back()
                free, before = self.pages()[2], free
                if free >= before:
                    break
            self.checkpoint()
        return deleted

    def _delete(self, select: str, params: tuple[Any, ...]) -> int:
        with self._transaction() as conn:
            victims = conn.execute(select, params).fetchall()
            ids = [(i,) for _, i in victims]
            conn.executemany("DELETE FROM feedback WHERE decision_id = ?", ids)
            conn.executemany("DELETE FROM decisions WHERE seq = ?", [(s,) for s, _ in victims])
        return len(victims)

    def _delete_feedback(self, select: str, params: tuple[Any, ...]) -> int:
        with self._transaction() as conn:
            victims = conn.execute(select, params).fetchall()
            conn.executemany("DELETE FROM feedback WHERE seq = ?", victims)
        return len(victims)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (taking the write lock at once): committed, or rolled back."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # --- sync state -----------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])
