"""The device's pool of loaded llama.cpp models, kept within a memory budget.

Loaded models are kept in least-recently-used order; loading one more that
would go over ``[runtime] memory_budget_mb`` first unloads the least recently
used *idle* ones (a model that is generating is never pulled out from under
its request). A model larger than the whole budget is unavailable, with the
figures in the error.

A llama.cpp context is not thread-safe, so each model serves one request at a
time behind a ``FairLock``: waiting requests are served first come, first
served (a plain ``threading.Lock`` lets a late thread overtake), and a waiter
gives up when its deadline passes or its request is cancelled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Protocol

from ...errors import TargetError, TargetUnavailable

log = logging.getLogger(__name__)


class FairLock:
    """A FIFO lock: ``acquire`` hands the lock to waiters in arrival order.

    Example::

        lock = FairLock()
        if lock.acquire(timeout=2.0):
            try: ...
            finally: lock.release()
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    @property
    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        """How many requests are queued behind the holder."""
        return len(self._waiters)

    def acquire(
        self,
        blocking: bool = True,
        timeout: float | None = None,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Take the lock in turn; False if ``timeout`` passes or ``cancel`` is set first."""
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            if not blocking:
                return False
            turn = threading.Event()
            self._waiters.append(turn)
        end = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            wait = 0.05 if cancel is not None else None
            if end is not None:
                left = end - time.monotonic()
                wait = left if wait is None else min(wait, left)
            if turn.wait(None if wait is None else max(wait, 0.0)):
                return True
            if (end is not None and time.monotonic() >= end) or (cancel and cancel.is_set()):
                with self._mutex:
                    if turn.is_set():  # handed over while we were giving up: keep it
                        return True
                    self._waiters.remove(turn)
                return False

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it."""
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unlocked FairLock")
            if self._waiters:
                self._waiters.popleft().set()  # ownership passes; _held stays True
            else:
                self._held = False


class Evictable(Protocol):
    """What the pool needs of a loaded model: its name and a way to unload it when idle."""

    name: str

    def unload_if_idle(self) -> bool: ...


class LocalPool:
    """Loaded local models in LRU order within ``memory_budget_mb`` (0: no limit)."""

    def __init__(self, memory_budget_mb: float = 0.0):
        self.memory_budget_mb = float(memory_budget_mb)
        self._loaded: OrderedDict[str, tuple[Evictable, float]] = OrderedDict()
        self._lock = threading.RLock()  # an evicted model may call forget() while we hold it

    @property
    def loaded(self) -> list[str]:
        """Names of the loaded models, least recently used first."""
        with self._lock:
            return list(self._loaded)

    @property
    def used_mb(self) -> float:
        with self._lock:
            return sum(mb for _, mb in self._loaded.values())

    def reserve(self, model: Evictable, size_mb: float) -> None:
        """Make room for ``model`` (about to load) by unloading LRU idle models.

        Raises ``TargetUnavailable`` if the model alone exceeds the budget and
        ``TargetError`` if the room is held by models busy generating.
        """
        budget = self.memory_budget_mb
        if budget > 0 and size_mb > budget:
            raise TargetUnavailable(
                f"needs about {size_mb:.0f} MB but [runtime] memory_budget_mb is {budget:.0f} MB; "
                "raise the budget or use a smaller model",
                target=model.name,
            )
        with self._lock:
            if budget > 0:
                for name, (other, mb) in list(self._loaded.items()):
                    if sum(m for _, m in self._loaded.values()) + size_mb <= budget:
                        break
                    if name != model.name and other.unload_if_idle():
                        log.info("unloaded %s (%.0f MB) to make room for %s", name, mb, model.name)
                        self._loaded.pop(name, None)
                used = sum(m for _, m in self._loaded.values())
                if used + size_mb > budget:
                    busy = ", ".join(n for n in self._loaded if n != model.name)
                    raise TargetError(
                        f"the memory budget ({budget:.0f} MB) is held by busy models ({busy}); "
                        "try again when they finish",
                        target=model.name,
                    )
            self._loaded[model.name] = (model, size_mb)
            self._loaded.move_to_end(model.name)

    def touch(self, name: str) -> None:
        """Mark ``name`` most recently used."""
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)

    def forget(self, name: str) -> None:
        """``name`` was unloaded by its owner."""
        with self._lock:
            self._loaded.pop(name, None)
