"""File-system faults for the tests, real ones: a file or directory this process cannot write.

``chmod`` does it for a normal user; root ignores permissions, so for root the
file is made immutable (``chattr +i``, ext4 and most local file systems). Where
neither works (root on a file system without that attribute) the test is
skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _chattr(flag: str, path: Path) -> bool:
    try:
        run = subprocess.run(["chattr", flag, str(path)], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make ``path`` unwritable for this process inside the block; restore it after."""
    if os.geteuid() != 0:
        mode = stat.S_IMODE(path.stat().st_mode)
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    if not _chattr("+i", path):
        pytest.skip("running as root on a file system without chattr +i: cannot make it read-only")
    try:
        yield path
    finally:
        _chattr("-i", path)


def make_read_only(path: Path) -> contextlib.ExitStack:
    """``read_only`` as an ``ExitStack`` the test closes when the fault should end."""
    stack = contextlib.ExitStack()
    stack.enter_context(read_only(path))
    return stack
