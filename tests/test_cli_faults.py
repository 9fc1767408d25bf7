"""The CLI when the data dir or the decision log cannot be written: routing goes on,
never waits long on the log, and ``doctor`` says what is wrong."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fs_faults import read_only

from edge_moma.config import default_config_path

CONFIG = (
    default_config_path()
    .read_text(encoding="utf-8")
    .replace('# data_dir = ""', 'data_dir = "{data}"')
)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge_moma", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_read_only_data_dir_does_not_stop_routing_and_doctor_reports_it(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    """A fresh read-only data dir made every route fail ("cannot write the device id",
    exit 1) while doctor said all was well."""
    data = tmp_path / "data"
    data.mkdir()
    config = write_config(CONFIG.replace("{data}", str(data)))
    with read_only(data):
        routed = cli(config, "route", "--json", "what is 6*7")
        doctor = cli(config, "doctor", "--json")
    assert routed.returncode == 0, routed.stderr
    assert json.loads(routed.stdout)["target"] == "calculator"
    assert "Traceback" not in routed.stderr
    assert "cannot write the device id" in routed.stderr  # said once, not an error
    assert doctor.returncode == 2, doctor.stderr  # it lists a problem
    log = json.loads(doctor.stdout)["log"]
    assert log["status"] == "degraded"
    assert any("cannot be written" in p for p in log["problems"]), log


def test_a_log_locked_by_another_process_delays_a_route_by_at_most_its_bound(
    write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    """With the database held by BEGIN EXCLUSIVE elsewhere a route took 10.8 s instead
    of 0.5 s; routing now waits on the log at most [runtime] log_wait_ms (250 ms)."""
    data = tmp_path / "data"
    config = write_config(CONFIG.replace("{data}", str(data)))
    first = cli(config, "route", "what is 1+1")  # creates the log
    assert first.returncode == 0, first.stderr
    t0 = time.monotonic()
    free = cli(config, "route", "what is 2+2")
    unlocked = time.monotonic() - t0
    blocker = sqlite3.connect(data / "decisions.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        held = cli(config, "route", "what is 3+3")
        locked = time.monotonic() - t0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert free.returncode == 0 and held.returncode == 0, held.stderr
    assert "locked" in held.stderr  # the decision it could not write is counted and said
    assert locked - unlocked < 2.0, (locked, unlocked)
