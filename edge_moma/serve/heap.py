"""Keep a long-running process's C heap from creeping (glibc; elsewhere these do nothing).

glibc gives threads their own malloc arenas, up to eight per core, and returns
little of a fragmented arena to the system. The daemon runs each generation in
a thread of its own, beside the event loop, the log writer and ONNX Runtime;
in a soak its anonymous memory grew by about 6 MB a minute with the default
arenas and levelled off with two. ``limit_arenas`` sets that before the
threads start, and ``trim`` (called once a minute) collects Python's cyclic
garbage (exceptions and their tracebacks under a failing target make plenty,
and the oldest generation is collected rarely: traced memory was flat after a
full collection) and hands the freed pages back.
"""

from __future__ import annotations

import ctypes
import functools
import gc
from typing import Any

ARENAS = 2
_M_ARENA_MAX = -8  # mallopt() parameter, from glibc's malloc.h


@functools.lru_cache(maxsize=1)
def _libc() -> Any | None:
    """The C library already loaded into this process, if it is glibc."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None  # not glibc (musl, macOS): nothing to tune
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (call before threads start); False where not glibc."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def trim() -> bool:
    """Collect cyclic garbage, then return freed heap pages to the system; True if glibc
    released any."""
    gc.collect()
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
