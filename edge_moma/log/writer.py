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
  interpreter exit) writes everything accepted before it returns.
* After a crash (kill -9, power loss) at most the records not yet flushed are
  lost: up to one batch or ``flush_interval_s`` of decisions.
* The queue never grows past ``queue_size``. When it is full, ``when_full``
  decides: ``"drop"`` counts the record in ``dropped`` and returns at once;
  ``"block"`` waits up to ``block_s`` for room, then drops and counts.
* A locked, read-only or full database is retried, then its batch is counted
  as dropped and ``error`` says why — routing never notices. A corrupt file is
  moved aside and a fresh log started.

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

from ..errors import LogError
from .ledger import WINDOW_S, SpendWindow
from .schema import describe, is_corruption, move_aside
from .sinks import LogRecord
from .store import Feedback, LogStore, Row, Spend, encode

if TYPE_CHECKING:
    from ..config import Config

logger = logging.getLogger(__name__)

LOG_FILE = "decisions.db"
DEVICE_ID_FILE = "device_id"
_RETRY_OPEN_S = 5.0
_PRUNE_EVERY_S = 60.0


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
            redact=redact,
        )


def device_id(data_dir: Path, configured: str = "") -> str:
    """The configured device id, else a random one created once and kept in the data dir."""
    if configured:
        return configured
    path = Path(data_dir) / DEVICE_ID_FILE
    try:
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise LogError(f"cannot read the device id ({exc})", path=str(path)) from exc
    new = uuid.uuid4().hex[:16]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(new + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise LogError(f"cannot write the device id ({exc})", path=str(path)) from exc
    return new


class _Marker:
    """Put in the queue by ``flush``; set once everything before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class DecisionLog:
    """The SQLite decision sink; call it with a ``LogRecord``. Thread-safe."""

    def __init__(self, settings: LogSettings):
        self.settings = settings
        self.path = settings.path
        self.dropped = 0
        self.written = 0
        self.error: str | None = None
        self.moved_aside: list[Path] = []
        self._buf: deque[Any] = deque()
        self._wake = threading.Event()
        self._drop_lock = threading.Lock()
        self._closed = False
        self._store: LogStore | None = None
        self._last_open_try = 0.0
        self._last_prune = 0.0
        self._spend = SpendWindow()
        self._open_store()
        if self._store is not None:
            for at, _, usd in self._store.spend_since(time.time() - WINDOW_S):
                self._spend.add(at, usd)
            self._prune()
        self._thread = threading.Thread(target=self._run, name="edge-moma-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # --- the hot path -----------------------------------------------------------

    def __call__(self, record: LogRecord) -> None:
        """Accept a record without I/O; count it as dropped if the queue stays full."""
        buf, s = self._buf, self.settings
        if (len(buf) >= s.queue_size or self._closed) and (
            self._closed or not self._wait_for_room()
        ):
            with self._drop_lock:
                self.dropped += 1
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

    # --- other writes (never dropped: rare and small) ---------------------------

    def add_feedback(self, feedback: Feedback) -> None:
        """Queue feedback for a decision (validated now, written with the next batch)."""
        feedback.check()
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
            return not self._buf
        marker = _Marker()
        self._buf.append(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything accepted, stop the writer and close the database. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        atexit.unregister(self.close)
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
            "queued": len(self._buf),
            "written": self.written,
            "dropped": self.dropped,
            "error": self.error,
            "moved_aside": [str(p) for p in self.moved_aside],
        }

    # --- the writer thread ------------------------------------------------------

    def _run(self) -> None:
        interval = self.settings.flush_interval_s
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            closing = self._closed
            self._drain()
            if closing and not self._buf:
                return
            if time.monotonic() - self._last_prune > _PRUNE_EVERY_S:
                self._prune()

    def _drain(self) -> None:
        # Little Python per row here: the writer holds the GIL while it runs, and
        # routing threads wait for it. Decision rows are tuples; feedback, spend
        # and flush markers are rare and sorted out only when present.
        buf = self._buf
        popleft = buf.popleft
        limit = max(self.settings.batch_size, 1) * 4
        while buf:
            items = [popleft() for _ in range(min(len(buf), limit))]
            markers: list[_Marker] = []
            rows: list[Any] = items
            feedback: list[Feedback] = []
            spend: list[Spend] = []
            others = [i for i in items if type(i) is not tuple]
            if others:
                rows = [i for i in items if type(i) is tuple]
                markers = [i for i in others if isinstance(i, _Marker)]
                feedback = [i for i in others if isinstance(i, Feedback)]
                spend = [i for i in others if isinstance(i, Spend)]
            if rows or feedback or spend:
                self._write(rows, feedback, spend)
            for m in markers:  # everything queued before it is written (or counted)
                m.done.set()

    def _write(self, rows: list[Row], feedback: list[Feedback], spend: list[Spend]) -> None:
        for attempt in range(4):
            store = self._store or self._open_store()
            if store is None:
                self._fail(len(rows), self.error or "the log is not open")
                return
            try:
                store.insert(rows, feedback, spend)
            except sqlite3.Error as exc:
                if is_corruption(exc):
                    self._recover_corrupt(store)
                    continue
                text = str(exc).lower()
                if ("locked" in text or "busy" in text) and attempt < 3:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                if "full" in text and attempt == 0:
                    self._prune(emergency=True)
                    continue
                self._fail(len(rows), describe(exc))
                return
            self.written += len(rows)
            self.error = None
            return
        self._fail(len(rows), "the log could not be written after retries")

    def _fail(self, n: int, why: str) -> None:
        if self.error != why:
            logger.warning("decision log %s: %s (records are counted as dropped)", self.path, why)
        self.error = why
        with self._drop_lock:
            self.dropped += n

    def _open_store(self) -> LogStore | None:
        now = time.monotonic()
        if self._last_open_try and now - self._last_open_try < _RETRY_OPEN_S:
            return None
        self._last_open_try = now
        try:
            self._store = LogStore.open(self.path)
        except LogError as exc:
            self.error = str(exc)
            logger.warning("decision log unavailable: %s; routing continues without it", exc)
            return None
        if self._store.moved_aside is not None:
            self.moved_aside.append(self._store.moved_aside)
        self._last_open_try = 0.0
        return self._store

    def _recover_corrupt(self, store: LogStore) -> None:
        store.close()
        self._store = None
        if self.path.exists():
            self.moved_aside.append(move_aside(self.path))
        self._last_open_try = 0.0

    def _prune(self, emergency: bool = False) -> None:
        self._last_prune = time.monotonic()
        store = self._store
        if store is None:
            return
        s = self.settings
        max_bytes = int(s.max_mb * 1024 * 1024)
        if emergency:
            max_bytes = int(store.used_bytes() * 0.8)
        try:
            store.prune(max_age_days=s.retention_days, max_bytes=max_bytes)
        except sqlite3.Error as exc:
            logger.warning("decision log %s: retention failed: %s", self.path, describe(exc))

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
