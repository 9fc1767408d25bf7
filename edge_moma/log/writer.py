"""The decision log: a sink that writes every decision to SQLite off the hot path.

Routing encodes the record into its row (text per the privacy mode, one JSON
document with orjson: about 15 us) and appends it to a bounded in-memory queue;
a writer thread drains the queue in batches — when ``batch_size`` rows wait or
every ``flush_interval_s`` — one transaction per batch, ``INSERT_CHUNK`` rows per
statement. Why the encoding is the caller's: Python threads share one GIL, and a
writer that encoded rows, or stored them with ``executemany`` (which hands the
GIL back and takes it again for every row), traded the GIL with the routing
thread hundreds of times per batch; in the daemon that cost more CPU per
decision than the encoding and the insert together. Now the writer needs the
GIL a few times per batch and holds it briefly.

Guarantees, as the README states them:

* ``close()`` (and SIGTERM once ``exit_on_sigterm()`` is installed, and
  interpreter exit) writes everything accepted before it returns — unless the
  database cannot be written then: after ``wait_s`` the rest is counted as
  dropped, so neither routing nor exit waits on a locked log.
* After a crash (kill -9, power loss) at most the records not yet flushed are
  lost: up to one batch or ``flush_interval_s`` of decisions.
* The queue never grows past ``queue_size``. When it is full, ``when_full``
  decides: ``"drop"`` counts the record in ``dropped`` and returns at once;
  ``"block"`` waits up to ``block_s`` for room, then drops and counts.
* A locked, read-only, full or missing database keeps the batch in hand and is
  retried with backoff (reopened, for a file that was read-only), while the
  queue takes new records; ``error`` says why. A corrupt file is moved aside
  and a fresh log started. A record the database refuses is written apart from
  its batch and counted alone.
* Every record lost is counted: ``dropped`` (decisions) and ``dropped_other``
  (feedback and spend). If the writer thread ever stops, what it held is
  counted, it is restarted, and ``health()`` says the log is degraded.
* Disk use stays within ``max_mb`` (database plus write-ahead log), pruned a
  thousand rows per transaction between two batches, so pruning never backs
  the queue up.

Example::

    log = DecisionLog(LogSettings(path=data_dir / "decisions.db", device_id="dev-1"))
    log(LogRecord(decision, "what's 15% of 80"))
    log.close()
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._throttled_log import ThrottledLog
from ..errors import LogError
from .ledger import WINDOW_S, SpendWindow
from .schema import describe, is_corruption, move_aside
from .sinks import LogRecord
from .store import Feedback, LogStore, Row, Spend, disk_bytes, encode

if TYPE_CHECKING:
    from ..config import Config

logger = logging.getLogger(__name__)
throttled = ThrottledLog(logger)

LOG_FILE = "decisions.db"
DEVICE_ID_FILE = "device_id"
_PRUNE_EVERY_S = 60.0  # age retention
_RETRY_MIN_S, _RETRY_MAX_S = 0.05, 5.0  # backoff for a database that cannot be written
_MAX_WAIT_S = 3600.0  # longest writer sleep (Event.wait overflows on huge timeouts)
_DEGRADED_S = 60.0  # a loss keeps health() "degraded" this long
_RESTARTS = 10  # writer restarts allowed per minute before the log gives up
_BUSY_MS = 50  # the writer's SQLite busy timeout: it retries itself, with backoff
_WAL_MAX = 16 * 1024 * 1024  # write-ahead log allowance inside max_mb (at most a quarter)
# Database errors that pass (another writer, permissions, space): keep the batch, retry.
_TRANSIENT = ("locked", "busy", "readonly", "read-only", "full", "unable to open", "disk i/o")


@dataclass(frozen=True)
class LogSettings:
    """How the log writes; ``from_config`` reads them from ``[runtime]``."""

    path: Path
    device_id: str
    text_mode: Literal["store", "redact", "hash"] = "redact"
    queue_size: int = 10_000
    batch_size: int = 512
    flush_interval_s: float = 0.2
    when_full: Literal["drop", "block"] = "drop"
    block_s: float = 0.005
    retention_days: float = 30.0
    max_mb: float = 256.0
    wait_s: float = 0.25  # the longest routing (start, close) waits on the log
    redact: Callable[[str], str] | None = field(default=None, compare=False)

    @classmethod
    def from_config(cls, config: Config, redact: Callable[[str], str] | None = None) -> LogSettings:
        rt = config.runtime
        return cls(
            path=config.data_dir / LOG_FILE,
            device_id=device_id(config.data_dir, rt.device_id),
            text_mode=rt.log_text,
            queue_size=rt.log_queue_size,
            flush_interval_s=rt.log_flush_ms / 1000.0,
            when_full=rt.log_when_full,
            retention_days=rt.log_retention_days,
            max_mb=rt.log_max_mb,
            wait_s=rt.log_wait_ms / 1000.0,
            redact=redact,
        )


# Ids made while the data dir could not be written: kept for the process, saved later.
_unsaved_ids: dict[Path, str] = {}


def device_id(data_dir: Path, configured: str = "") -> str:
    """The configured device id, else a random one created once and kept in the data dir.

    A data dir that cannot be written (read-only, full) does not stop routing: the
    new id lives in memory, the same for the whole process, and ``save_device_id``
    writes it once the directory can be written.
    """
    if configured:
        return configured
    path = Path(data_dir) / DEVICE_ID_FILE
    try:
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        throttled.warning("device-id", "cannot read the device id %s (%s)", path, exc)
    new = _unsaved_ids.get(path) or uuid.uuid4().hex[:16]
    if _write_device_id(path, new):
        _unsaved_ids.pop(path, None)
    else:
        _unsaved_ids[path] = new
    return new


def save_device_id(data_dir: Path) -> None:
    """Write the device id made in memory while ``data_dir`` could not be written."""
    path = Path(data_dir) / DEVICE_ID_FILE
    new = _unsaved_ids.get(path)
    if new is not None and (path.exists() or _write_device_id(path, new)):
        _unsaved_ids.pop(path, None)


def _write_device_id(path: Path, new: str) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(new + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        throttled.warning(
            "device-id",
            "cannot write the device id %s (%s); using %s for this process",
            path,
            exc,
            new,
        )
        return False
    return True


def log_report(config: Config) -> dict[str, Any]:
    """What ``edge-moma doctor`` says of the decision log: where it is, whether it and the
    data dir can be written, its size; ``status`` "degraded" with ``problems`` if not."""
    data = config.data_dir
    path = data / LOG_FILE
    report: dict[str, Any] = {"path": str(path), "enabled": config.runtime.log}
    problems = []
    probe = data / f".doctor-{os.getpid()}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        problems.append(
            f"the data dir {data} cannot be written ({exc.strerror or exc}): decisions are not "
            "logged and the device id is not kept; fix its permissions or [runtime] data_dir"
        )
    if path.exists():
        report["size_mb"] = round(disk_bytes(path) / 1024 / 1024, 1)
        try:
            with open(path, "r+b"):
                pass
        except OSError as exc:
            problems.append(f"the log cannot be written ({exc.strerror or exc}); fix {path}")
    report["status"] = "degraded" if problems and config.runtime.log else "ok"
    report["problems"] = problems
    return report


class _Marker:
    """Put in the queue by ``flush``; set once everything before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


def _fault(exc: BaseException) -> Literal["corrupt", "transient", "record"]:
    """What a failed write means: a corrupt file, a passing database fault, or a bad record."""
    if isinstance(exc, sqlite3.Error):
        if is_corruption(exc):
            return "corrupt"
        text = str(exc).lower()
        if any(word in text for word in _TRANSIENT):
            return "transient"
    return "record"


class DecisionLog:
    """The SQLite decision sink; call it with a ``LogRecord``. Thread-safe."""

    def __init__(self, settings: LogSettings):
        self.settings = settings
        self.path = settings.path
        self.dropped = 0  # decisions lost (queue full, database unwritable at close, bad record)
        self.dropped_other = 0  # feedback and spend entries lost
        self.written = 0
        self.pruned = 0  # decisions deleted by retention (age, size)
        self.restarts = 0
        self.error: str | None = None  # what keeps the log from writing now
        self.moved_aside: list[Path] = []
        self._buf: deque[Any] = deque()
        self._pending: list[Any] = []  # taken from the queue, not yet written
        self._wake = threading.Event()
        self._drop_lock = threading.Lock()
        self._closed = False  # refuse new records: closed, or the writer gave up
        self._give_up_at = float("inf")  # after close(): stop retrying an unwritable log
        self._store: LogStore | None = None
        self._retry_at = 0.0  # a database fault: the writer retries at this time
        self._retry_s = _RETRY_MIN_S
        self._made_room_at = -_PRUNE_EVERY_S
        self._spend_loaded = False
        self._lost_at = 0.0
        self._lost_why: str | None = None
        self._restart_times: deque[float] = deque(maxlen=_RESTARTS)
        self._next_age = 0.0
        self._age_due = self._size_due = False
        self._unpruned = 0  # rows written since retention last ran
        max_bytes = int(settings.max_mb * 1024 * 1024)
        self._wal_bytes = min(_WAL_MAX, max_bytes // 4) if max_bytes else _WAL_MAX
        self._high = max_bytes - self._wal_bytes  # the database file's share of max_mb
        self._spend = SpendWindow()
        self._opened = threading.Event()
        self._thread = self._start_writer()
        # Budgets read past spend from the log: wait for it, but never long.
        self._opened.wait(settings.wait_s)
        atexit.register(self.close)

    # --- the hot path -----------------------------------------------------------

    def __call__(self, record: LogRecord) -> None:
        """Accept a record without I/O; count it as dropped if the queue stays full."""
        buf, s = self._buf, self.settings
        if (len(buf) >= s.queue_size or self._closed) and (
            self._closed or not self._wait_for_room()
        ):
            self._lost(1, "the log queue is full" if not self._closed else "the log is closed")
            return
        try:
            row = encode(record, s.device_id, s.text_mode, s.redact)
        except Exception as exc:  # e.g. a privacy rule that raises: never into routing
            self._fail(1, f"cannot encode a decision: {exc!r}")
            return
        buf.append(row)
        if len(buf) >= s.batch_size and not self._wake.is_set():
            self._wake.set()

    def _wait_for_room(self) -> bool:
        if self.settings.when_full != "block":
            return False
        self._wake.set()
        deadline = time.monotonic() + self.settings.block_s
        while len(self._buf) >= self.settings.queue_size:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.0002)
        return True

    # --- other writes (rare and small) ------------------------------------------

    def add_feedback(self, feedback: Feedback) -> None:
        """Queue feedback for a decision (validated now, written with the next batch).

        Raises ``LogError`` when the log cannot take it (closed, or its queue full),
        so a caller never reports feedback as kept that is not.
        """
        feedback.check()
        if self._closed or len(self._buf) >= self.settings.queue_size:
            raise LogError(
                "the decision log cannot take feedback now (closed, or its queue is full "
                f"while {self.error or 'it catches up'}); retry shortly",
                path=str(self.path),
            )
        if not feedback.created:
            feedback = Feedback(
                feedback.decision_id,
                feedback.score,
                feedback.correct,
                feedback.source,
                feedback.note,
                time.time(),
            )
        self._buf.append(feedback)
        self._wake.set()

    def resolve_id(self, decision_id: str, timeout: float = 10.0) -> str:
        """The full id of the logged decision an id or unique prefix names, or
        ``DecisionNotFound``. Decisions still waiting in the queue count: the
        writer is flushed first, so feedback right after routing finds its decision."""
        if not self.flush(timeout):
            raise LogError(
                f"the log writer did not catch up within {timeout:g} s; try again",
                path=str(self.path),
            )
        store = LogStore.open(self.path, readonly=True)  # a connection of the caller's own
        try:
            return store.resolve_id(decision_id)
        finally:
            store.close()

    @property
    def ledger(self) -> SqliteLedger:
        """The budget ledger kept in this log (implements ``edge_moma.log.ledger.Ledger``)."""
        return SqliteLedger(self)

    # --- lifecycle --------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything accepted so far is written (or dropped); False on timeout."""
        if not self._thread.is_alive():
            return not self._buf and not self._pending
        marker = _Marker()
        self._buf.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything accepted, stop the writer and close the database. Idempotent.

        A database that cannot be written gets ``settings.wait_s`` more; what is
        still unwritten then is counted as dropped (``error`` says why).
        """
        if self._closed and self._give_up_at != float("inf"):
            return
        self._give_up_at = time.monotonic() + self.settings.wait_s
        self._retry_at = 0.0  # one more try now, whatever the backoff
        self._closed = True
        self._wake.set()
        end = time.monotonic() + timeout
        thread = None
        while thread is not self._thread:  # a writer that died may have been replaced
            thread = self._thread
            thread.join(max(0.0, end - time.monotonic()))
        atexit.unregister(self.close)
        logger.info(
            "decision log %s closed: %d decisions written, %d pruned by retention, %d dropped, "
            "%d feedback/spend dropped",
            self.path,
            self.written,
            self.pruned,
            self.dropped,
            self.dropped_other,
        )
        if thread.is_alive():
            logger.warning(
                "decision log %s: the writer did not finish within %g s", self.path, timeout
            )
            return
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Writer-side counters (the database's own counts come from ``LogStore.stats``)."""
        return {
            "path": str(self.path),
            "queued": len(self._buf) + len(self._pending),
            "written": self.written,
            "pruned": self.pruned,
            "dropped": self.dropped,
            "dropped_other": self.dropped_other,
            "writer_restarts": self.restarts,
            "error": self.error,
            "moved_aside": [str(p) for p in self.moved_aside],
        }

    def health(self) -> dict[str, Any]:
        """``status`` "ok", or "degraded" with ``reason``: the log cannot write now, its
        writer is down, or it lost records in the last minute (``stats`` has the counts)."""
        reason = self.error
        if reason is None and not self._thread.is_alive() and not self._closed:
            reason = "the log writer is not running"
        if reason is None and self._lost_at and time.monotonic() - self._lost_at < _DEGRADED_S:
            reason = f"records lost in the last {_DEGRADED_S:g} s: {self._lost_why}"
        return {
            "status": "ok" if reason is None else "degraded",
            "reason": reason,
            "dropped": self.dropped,
            "dropped_other": self.dropped_other,
            "writer_restarts": self.restarts,
        }

    # --- the writer thread ------------------------------------------------------

    def _start_writer(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="edge-moma-log", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # a bug or MemoryError: counted, never silent
            self._writer_died(exc)
        finally:
            self._opened.set()

    def _serve(self) -> None:
        if self._store is None:
            self._open_store()
        self._opened.set()
        interval = min(max(self.settings.flush_interval_s, 0.001), _MAX_WAIT_S)
        while True:
            wait = interval
            if self._retry_at:
                wait = min(wait, self._retry_at - time.monotonic())
            if self._closed:
                wait = min(wait, self._give_up_at - time.monotonic())
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()
            closing = self._closed
            self._drain(everything=not (self._age_due or self._size_due))
            if not self._buf and not self._pending:
                if closing:
                    return
            elif closing and time.monotonic() >= self._give_up_at:
                self._abandon(self.error or "the log could not be written before closing")
                return
            self._maintain()

    def _writer_died(self, exc: BaseException) -> None:
        held, self._pending = self._pending, []
        # Counted before the restart, flush markers released after it: a flush that
        # returns sees the loss counted and a live writer.
        markers = [m for m in held if isinstance(m, _Marker)]
        self._count(
            [m for m in held if not isinstance(m, _Marker)], f"the log writer stopped ({exc!r})"
        )
        self.error = f"the log writer stopped ({exc!r}) and was restarted"
        now = time.monotonic()
        self._restart_times.append(now)
        logger.error("decision log %s: the writer thread stopped", self.path, exc_info=exc)
        if len(self._restart_times) == _RESTARTS and now - self._restart_times[0] < 60.0:
            self.error = f"the log writer keeps stopping ({exc!r}); logging is off until restart"
            self._closed = True
            self._abandon(self.error)
        else:
            self.restarts += 1
            self._start_writer()
        for marker in markers:
            marker.done.set()

    def _drain(self, everything: bool = True) -> None:
        """Write the queue in batches (only one while retention has work to do)."""
        # Little Python per row here: the writer holds the GIL while it runs, and
        # routing threads wait for it. Decision rows are tuples; feedback, spend
        # and flush markers are rare and sorted out only when present.
        buf = self._buf
        popleft = buf.popleft
        limit = max(self.settings.batch_size, 1) * 4
        while True:
            if not self._pending:
                if not buf:
                    return
                self._pending = [popleft() for _ in range(min(len(buf), limit))]
            if self._retry_at and time.monotonic() < self._retry_at:
                return  # a database fault: wait for the backoff
            if not self._write_pending():
                self._retry_at = time.monotonic() + self._retry_s
                self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
                return
            self._retry_at, self._retry_s = 0.0, _RETRY_MIN_S
            if not everything or self._over_size():
                return

    def _over_size(self) -> bool:
        """Whether the database file has outgrown its share of ``max_mb`` (retention's
        trigger): then retention runs before the next batch, so a backlog drained at
        once (a starved writer's whole queue) overshoots by one batch, not the queue."""
        store = self._store
        if store is None or self._high <= 0 or self._size_due:
            return self._size_due
        page, pages, _ = store.pages()
        self._size_due = page * pages > self._high
        return self._size_due

    def _write_pending(self) -> bool:
        """Write ``_pending``; False (keeping what is unwritten) if the database cannot
        be written now."""
        items = self._pending
        if any(type(i) is not tuple for i in items):
            rows = [i for i in items if type(i) is tuple]
            feedback = [i for i in items if isinstance(i, Feedback)]
            spend = [i for i in items if isinstance(i, Spend)]
        else:
            rows, feedback, spend = items, [], []
        if rows or feedback or spend:
            failure = self._insert(rows, feedback, spend)
            if failure == "transient":
                return False
            if failure == "record" and not self._isolate(items):
                return False
            if failure is None:
                self.written += len(rows)
                self._unpruned += len(rows)
            self.error = None
        for m in items:
            if isinstance(m, _Marker):  # everything queued before it is written (or counted)
                m.done.set()
        self._pending = []
        return True

    def _insert(self, rows: list[Row], feedback: list[Feedback], spend: list[Spend]) -> str | None:
        """Write one batch: None if written, else "transient" or "record" (see ``_fault``)."""
        for _ in range(2):  # a second try on the fresh file after a corrupt one
            store = self._store or self._open_store()
            if store is None:
                return "transient"
            try:
                store.insert(rows, feedback, spend)
                return None
            except Exception as exc:
                kind = _fault(exc)
                if kind == "corrupt":
                    self._recover_corrupt(store)
                    continue
                if kind == "record":
                    return kind
                self._transient(store, exc)
                return kind
        return "transient"

    def _isolate(self, items: list[Any]) -> bool:
        """Write ``items`` one by one, counting those the database refuses; False if it
        becomes unwritable midway (the unwritten rest stays pending)."""
        for i, item in enumerate(items):
            if isinstance(item, _Marker):
                continue
            rows = [item] if type(item) is tuple else []
            feedback = [item] if isinstance(item, Feedback) else []
            spend = [item] if isinstance(item, Spend) else []
            store = self._store or self._open_store()
            if store is None:
                self._pending = items[i:]
                return False
            try:
                store.insert(rows, feedback, spend)
            except Exception as exc:
                if _fault(exc) != "record":
                    self._pending = items[i:]
                    return False
                self._count([item], f"the database refused a record ({exc!r})")
                continue
            self.written += len(rows)
        return True

    def _transient(self, store: LogStore, exc: BaseException) -> None:
        why = describe(exc) if isinstance(exc, sqlite3.Error) else repr(exc)
        text = str(exc).lower()
        if "full" in text and time.monotonic() - self._made_room_at > _PRUNE_EVERY_S:
            self._made_room_at = time.monotonic()
            self._make_room(store)
        if "readonly" in text or "read-only" in text:
            # SQLite opened the file read-only and stays so: reopen it once it is writable.
            store.close()
            self._store = None
        self.error = why
        throttled.warning(
            f"write:{why[:24]}",
            "decision log %s: %s (retrying; the queue holds new ones)",
            self.path,
            why,
        )

    def _abandon(self, why: str) -> None:
        """Count everything still queued or held as dropped (the log gives up on it)."""
        held, self._pending = self._pending, []
        buf = self._buf
        while buf:
            held.append(buf.popleft())
        self._count(held, why)

    def _count(self, items: list[Any], why: str) -> None:
        """Count lost items as dropped (decisions apart) and release flush markers."""
        decisions = sum(1 for i in items if type(i) is tuple)
        others = sum(1 for i in items if isinstance(i, (Feedback, Spend)))
        for m in items:
            if isinstance(m, _Marker):
                m.done.set()
        if others:
            with self._drop_lock:
                self.dropped_other += others
        if decisions or others:
            self._fail(decisions, why)

    def _fail(self, n: int, why: str) -> None:
        where = "" if str(self.path) in why else f" {self.path}"
        throttled.warning(
            f"lost:{why[:24]}", "decision log%s: %s (records are counted as dropped)", where, why
        )
        self._lost(n, why)

    def _lost(self, n: int, why: str) -> None:
        with self._drop_lock:
            self.dropped += n
        self._lost_at, self._lost_why = time.monotonic(), why

    def _open_store(self) -> LogStore | None:
        try:
            store = LogStore.open(self.path)
            store.conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            store.limit_wal(self._wal_bytes)
        except (LogError, sqlite3.Error) as exc:
            self.error = str(exc) if isinstance(exc, LogError) else describe(exc)
            throttled.warning(
                "open", "decision log unavailable: %s; routing continues, retrying", self.error
            )
            return None
        self._store = store
        if store.moved_aside is not None:
            self.moved_aside.append(store.moved_aside)
        if not self._spend_loaded:
            for at, _, usd in store.spend_since(time.time() - WINDOW_S):
                self._spend.add(at, usd)
            self._spend_loaded = True
        save_device_id(self.path.parent)
        return store

    def _recover_corrupt(self, store: LogStore) -> None:
        store.close()
        self._store = None
        if self.path.exists():
            self.moved_aside.append(move_aside(self.path))

    def _make_room(self, store: LogStore) -> None:
        """A full disk: prune a fifth of the log at once, synced rows first."""
        try:
            target = int(store.used_bytes() * 0.8)
            while self._prune_step(store, max_bytes=target):
                pass
            store.checkpoint()
        except sqlite3.Error as exc:
            throttled.warning(
                "prune", "decision log %s: pruning failed: %s", self.path, describe(exc)
            )

    def _prune_step(self, store: LogStore, **limits: Any) -> int:
        """One retention step (``LogStore.prune_step``), its decisions counted in ``pruned``."""
        decisions, feedback = store.prune_step(**limits)
        self.pruned += decisions
        return decisions + feedback

    def _maintain(self) -> None:
        """Retention between two batches, in short steps, so that writes go first: by age
        once a minute; by size after every batch, pruning at least what was just written
        until the database is back to 90% of its share of ``max_mb``."""
        store, s = self._store, self.settings
        if store is None or self._retry_at or self._closed:
            return
        written, self._unpruned = self._unpruned, 0
        try:
            now = time.monotonic()
            if now >= self._next_age:
                self._next_age = now + _PRUNE_EVERY_S
                self._age_due = s.retention_days > 0
            if self._age_due:
                if self._prune_step(store, max_age_days=s.retention_days):
                    self._wake.set()  # more to delete: back at once, after one batch
                    return
                self._age_due = False
            if not self._over_size():
                return
            page, pages, free = store.pages()
            low = int(self._high * 0.9)
            if (pages - free) * page > low:
                deleted = 0
                while deleted < max(written, 1) and (n := self._prune_step(store, max_bytes=low)):
                    deleted += n
            elif page * pages > self._high and free:
                store.give_back(min(free, 512))  # e.g. max_mb was lowered
            else:
                self._size_due = False
                store.checkpoint()
                return
            self._wake.set()
        except sqlite3.Error as exc:
            throttled.warning(
                "prune", "decision log %s: retention failed: %s", self.path, describe(exc)
            )

    def _add_spend(self, spend: Spend) -> None:
        self._spend.add(spend.at, spend.usd)
        self._buf.append(spend)
        self._wake.set()


class SqliteLedger:
    """Budget spend that survives restarts: read from memory, written through the log."""

    def __init__(self, log: DecisionLog):
        self._log = log

    def add(self, target: str, usd: float, at: float | None = None) -> None:
        self._log._add_spend(Spend(time.time() if at is None else at, target, usd))

    def spent_since(self, since: float) -> float:
        return self._log._spend.spent_since(since)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so ``close()`` and ``atexit`` flush the log.

    Call it from the main thread of a program that owns a runtime (the CLI and
    the daemon do); a library never installs signal handlers on its own.
    """

    def handler(signum: int, frame: Any) -> None:
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
