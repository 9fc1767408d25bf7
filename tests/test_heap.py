"""The daemon's heap settings: glibc's malloc arenas capped, freed pages handed back."""

from __future__ import annotations

import platform

from edge_moma.serve import heap


def test_arenas_are_capped_and_trim_runs_where_the_c_library_is_glibc() -> None:
    glibc = platform.libc_ver()[0] == "glibc"
    assert heap.limit_arenas() is glibc
    assert isinstance(heap.trim(), bool)
    if not glibc:
        assert heap.trim() is False
