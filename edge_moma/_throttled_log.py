"""Log lines that repeat under a lasting fault, at most once per interval per kind.

A full disk or a locked database fails every batch; a flood of bad clients
fails every connection. One line per event buried the first, useful line under
hundreds of copies, so each kind of message is written at most once per
``every_s``; the next one written says how many were held back.

Example::

    throttled = ThrottledLog(logging.getLogger(__name__), every_s=60)
    throttled.warning("disk-full", "decision log %s: the disk is full", path)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any


class ThrottledLog:
    """A logger front that writes each ``kind`` of message at most once per ``every_s``."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0):
        self.logger = logger
        self.every_s = every_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, kind: str, msg: str, *args: Any) -> bool:
        """Log ``msg % args`` unless ``kind`` was logged in the last ``every_s``; True if so."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            msg += f" ({held} more like this in the last {self.every_s:g} s not shown)"
        self.logger.log(level, msg, *args)
        return True

    def warning(self, kind: str, msg: str, *args: Any) -> bool:
        return self.log(logging.WARNING, kind, msg, *args)

    def info(self, kind: str, msg: str, *args: Any) -> bool:
        return self.log(logging.INFO, kind, msg, *args)
