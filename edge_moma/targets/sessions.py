"""The per-session dialog state machine: who owns the conversation right now.

::

    idle ──agent answers need_input──> agent_active(agent, pending slots)
      ^                                   │
      └── agent done / user cancels / confident subject change / agent down / expiry

After an agent finishes (``done``) the session is idle again but remembers the
agent and its slots for ``follow_up_s``, so a follow-up without an intent of its
own ("and in Celsius?") can return to it. A session untouched for ``ttl_s`` is
forgotten, and at most ``max_sessions`` are kept (the least recently updated go
first): clients that make up a new session id per request must not grow the
daemon's memory without bound. State lives in memory; with a store (SQLite through sqlite-utils)
every change is written through and live sessions are read back at start, so
a restarted daemon keeps its dialogs. Reads never touch the disk: routing
stays free of I/O.

Example::

    sessions = SessionManager(ttl_s=900)
    sessions.agent_replied("s1", "reminders", "reminder_update", "need_input", {"list": "todo"})
    sessions.get("s1").state          # 'agent_active'
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..session import Session
from ._agent_db import open_table

TABLE = "agent_sessions"
MAX_SESSIONS = 10_000


class SessionStore:
    """Sessions written through to one SQLite table, read back once at start."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._db = open_table(
                self.path, TABLE, {"id": str, "state": str, "updated": float}, "id"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the session store {self.path}: {exc}; fix the data dir",
                key_path="runtime.data_dir",
            ) from exc
        self._lock = threading.Lock()

    def load(self, since: float) -> dict[str, Session]:
        """Sessions updated after ``since``; older rows are deleted."""
        with self._lock, self._db.conn:
            self._db.execute(f"delete from {TABLE} where updated < ?", [since])
            rows = list(self._db.table(TABLE).rows)
        out = {}
        for row in rows:
            try:
                out[row["id"]] = Session(**json.loads(row["state"]))
            except (TypeError, ValueError):
                continue  # a row from an incompatible version: start that session afresh
        return out

    def save(self, session: Session) -> None:
        state = json.dumps(asdict(session), default=str)
        with self._lock, self._db.conn:
            self._db.table(TABLE).upsert(
                {"id": session.id, "state": state, "updated": session.updated}, pk="id"
            )

    def delete(self, session_id: str) -> None:
        with self._lock, self._db.conn:
            self._db.execute(f"delete from {TABLE} where id = ?", [session_id])

    def close(self) -> None:
        with self._lock:
            self._db.close()


_NO_SESSION = Session(id="")  # the state of every turn outside a session (immutable)


class SessionManager:
    """Sessions by id, with expiry after ``ttl_s`` of inactivity."""

    def __init__(
        self,
        *,
        ttl_s: float = 900.0,
        follow_up_s: float = 120.0,
        store: SessionStore | None = None,
        clock: Callable[[], float] = time.time,
        max_sessions: int = MAX_SESSIONS,
    ):
        self.ttl_s = ttl_s
        self.follow_up_s = follow_up_s
        self.store = store
        self.max_sessions = max_sessions
        self._clock = clock
        self._lock = threading.Lock()
        loaded = store.load(clock() - ttl_s) if store else {}
        # Least recently updated first: expiry and the cap take from the front.
        self._sessions: OrderedDict[str, Session] = OrderedDict(
            sorted(loaded.items(), key=lambda item: item[1].updated)
        )

    def get(self, session_id: str | None) -> Session:
        """The session's state now (a fresh idle one if unknown or expired); no I/O."""
        if not session_id:
            return _NO_SESSION
        now = self._clock()
        session = self._sessions.get(session_id)
        if session is None:
            return Session(id=session_id)
        if now - session.updated > self.ttl_s:
            return Session(id=session_id, ended="expired")
        return session

    def follow_up_agent(self, session: Session) -> str | None:
        """The agent a follow-up may return to now (``Session.follow_up_agent``)."""
        return session.follow_up_agent(self._clock(), self.follow_up_s)

    def agent_replied(
        self,
        session_id: str | None,
        agent: str,
        intent: str,
        state: str,
        slots: Mapping[str, Any],
    ) -> Session:
        """An agent answered: keep the dialog open (need_input) or close it (done)."""
        now = self._clock()
        if state == "need_input":
            new = Session(
                id=session_id or "",
                state="agent_active",
                agent=agent,
                intent=intent,
                slots=dict(slots),
                updated=now,
            )
        else:
            ended = "cancel" if intent == "cancel" else "done"
            new = Session(
                id=session_id or "",
                updated=now,
                last_agent=None if ended == "cancel" else agent,
                last_slots={} if ended == "cancel" else dict(slots),
                last_done=now,
                ended=ended,
            )
        return self._put(new)

    def end(self, session_id: str | None, why: str) -> Session:
        """Back to idle with nothing to follow up (an LLM answered, the agent failed...)."""
        return self._put(Session(id=session_id or "", updated=self._clock(), ended=why))

    def _put(self, session: Session) -> Session:
        if not session.id:
            return session  # no session id: a stateless request
        with self._lock:
            self._sessions[session.id] = session
            self._sessions.move_to_end(session.id)
            self._prune(session.updated)
        if self.store is not None:
            self.store.save(session)
        return session

    def _prune(self, now: float) -> None:
        sessions = self._sessions
        while sessions:
            oldest = next(iter(sessions.values()))
            if now - oldest.updated <= self.ttl_s and len(sessions) <= self.max_sessions:
                return
            sessions.popitem(last=False)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
