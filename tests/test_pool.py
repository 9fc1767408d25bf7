"""The fair per-model lock: first come, first served; waiters give up on time or cancel.
(Eviction within the memory budget is tested on real models in test_backends_local.py.)"""

from __future__ import annotations

import threading
import time

import pytest

from edge_moma.targets.backends.pool import FairLock


def test_waiters_are_served_in_arrival_order() -> None:
    lock = FairLock()
    assert lock.acquire()
    order: list[int] = []

    def worker(i: int) -> None:
        assert lock.acquire(timeout=10)
        order.append(i)
        time.sleep(0.01)
        lock.release()

    threads = []
    for i in range(5):
        t = threading.Thread(target=worker, args=(i,))
        t.start()
        threads.append(t)
        while lock.waiting < i + 1:
            time.sleep(0.001)
    lock.release()
    for t in threads:
        t.join(10)
    assert order == [0, 1, 2, 3, 4]
    assert not lock.locked and lock.waiting == 0


def test_a_waiter_gives_up_at_its_timeout_and_leaves_the_queue() -> None:
    lock = FairLock()
    lock.acquire()
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.1) is False
    assert 0.09 <= time.monotonic() - t0 < 1.0
    assert lock.waiting == 0
    lock.release()
    assert lock.acquire(blocking=False)
    lock.release()


def test_a_cancelled_waiter_gives_up() -> None:
    lock = FairLock()
    lock.acquire()
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    assert lock.acquire(timeout=10, cancel=cancel) is False
    assert lock.waiting == 0
    lock.release()


def test_release_of_an_unlocked_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="unlocked"):
        FairLock().release()
