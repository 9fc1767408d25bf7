"""Exit codes through the real command-line processes: 0 ok, 1 runtime failure, 2 usage or
config error; ``scripts/fleet.py`` adds 3 (not promoted) and 4 (a batch rejected)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from log_samples import make_record

from edge_moma.log.store import LogStore, decision_rows
from edge_moma.log.sync import MANIFEST_SUFFIX, export_batch

ROOT = Path(__file__).resolve().parent.parent


def edge_moma(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_moma", *args], capture_output=True, text=True, timeout=120
    )


def fleet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fleet.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh(write_config, tmp_path: Path) -> Path:
    """A config whose data dir has never seen a decision."""
    return write_config(f'[runtime]\ndata_dir = "{tmp_path / "data"}"\n')


def test_log_tail_and_stats_before_any_decision_print_an_empty_result(
    fresh: Path, tmp_path: Path
) -> None:
    tail = edge_moma("log", "tail", "--json", "--config", str(fresh))
    assert tail.returncode == 0 and json.loads(tail.stdout) == [], tail.stderr
    assert "no decision log yet" in tail.stderr and "Traceback" not in tail.stderr
    stats = edge_moma("log", "stats", "--json", "--config", str(fresh))
    assert stats.returncode == 0, stats.stderr
    counts = json.loads(stats.stdout)
    assert counts["decisions"] == counts["feedback"] == counts["size_bytes"] == 0
    assert counts["path"] == str(tmp_path / "data" / "decisions.db")
    text = edge_moma("log", "tail", "--config", str(fresh))
    assert text.returncode == 0 and text.stdout == ""
    export = edge_moma("log", "export", "--config", str(fresh))
    assert export.returncode == 0 and export.stdout == ""
    show = edge_moma("log", "show", "abc", "--config", str(fresh))
    assert show.returncode == 2 and "no logged decision with id 'abc'" in show.stderr
    assert not (tmp_path / "data").exists()  # reading created nothing


def test_serve_when_already_running_exits_2(fresh: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    sock = run / "d.sock"
    fd = os.open(run / "d.sock.pid", os.O_RDWR | os.O_CREAT, 0o600)
    try:  # hold the pid file as a running daemon does
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"4242\n", 0)
        proc = edge_moma("serve", "--config", str(fresh), "--socket", str(sock))
    finally:
        os.close(fd)
    assert proc.returncode == 2, proc.stderr
    assert "already running, pid 4242" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("where", "words"),
    [("under-a-file", "cannot use"), ("open-to-others", "is mode 0755")],
)
def test_serve_on_a_bad_socket_directory_exits_2(
    fresh: Path, tmp_path: Path, where: str, words: str
) -> None:
    if where == "under-a-file":
        (tmp_path / "afile").write_text("x")
        sock = tmp_path / "afile" / "d.sock"
    else:
        (tmp_path / "open").mkdir()
        (tmp_path / "open").chmod(0o755)
        sock = tmp_path / "open" / "d.sock"
    proc = edge_moma("serve", "--config", str(fresh), "--socket", str(sock))
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "--socket" in proc.stderr and "Traceback" not in proc.stderr
    assert not sock.exists()


def test_serve_with_a_bad_config_exits_2(write_config) -> None:
    bad = write_config("[server]\ngrace_s = inf\n")
    proc = edge_moma("serve", "--config", str(bad))
    assert proc.returncode == 2 and "server.grace_s" in proc.stderr, proc.stderr


def batch(tmp_path: Path, name: str) -> Path:
    store = LogStore.open(tmp_path / name / "decisions.db")
    store.insert(decision_rows([make_record(i) for i in range(3)], name, "store", None))
    export_batch(store, tmp_path / "inbox" / name, name)
    store.close()
    return tmp_path / "inbox" / name


def test_fleet_collect_exits_4_when_it_rejects_a_batch(tmp_path: Path) -> None:
    batch(tmp_path, "dev-good")
    bad = batch(tmp_path, "dev-bad")
    data = next(bad.glob("*.decisions.jsonl.gz"))
    data.write_bytes(data.read_bytes()[:-8])  # tampered in transit: sha256 no longer matches
    db = tmp_path / "fleet" / "fleet.db"
    proc = fleet("collect", str(tmp_path / "inbox"), "--db", str(db))
    assert proc.returncode == 4, proc.stderr
    report = json.loads(proc.stdout)
    assert report["decisions"] == 3 and len(report["rejected"]) == 1  # the good one is in
    assert "rejected" in proc.stderr and "sha256" in proc.stderr
    next(bad.glob(f"*{MANIFEST_SUFFIX}")).unlink()  # removed from the inbox: clean again
    again = fleet("collect", str(tmp_path / "inbox"), "--db", str(db))
    assert again.returncode == 0 and json.loads(again.stdout)["already_collected"], again.stderr


def test_fleet_usage_and_data_errors_exit_2_and_an_unpromoted_gate_3(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    proc = fleet("collect", str(notes), "--db", str(tmp_path / "f.db"))
    assert proc.returncode == 2 and "not a batch manifest" in proc.stderr, proc.stderr
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps({"promote": False}))
    bundle = ROOT / "models" / "intent"
    args = ["publish", "--intent", str(bundle), "--release", "r1", "--out", str(tmp_path / "rel")]
    refused = fleet(*args, "--gate", str(gate))
    assert refused.returncode == 3 and "did not promote" in refused.stderr
    gate.write_text("{not json")
    broken = fleet(*args, "--gate", str(gate))
    assert broken.returncode == 2 and "not a gate report" in broken.stderr
    assert "Traceback" not in proc.stderr + refused.stderr + broken.stderr


def test_an_output_file_that_cannot_be_written_is_one_line_and_exit_1(
    fresh: Path, tmp_path: Path
) -> None:
    out = tmp_path / "no-such-dir" / "all.jsonl"
    proc = edge_moma("log", "export", "--out", str(out), "--config", str(fresh))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: {out}: No such file or directory" in proc.stderr
