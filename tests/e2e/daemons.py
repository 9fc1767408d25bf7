"""Real ``python -m edge_moma serve`` processes for the end-to-end tests: each with its
own config (the packaged default, a small llama.cpp context), data dir and socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from edge_moma.config import default_config_path
from edge_moma.log.store import LogStore

KEY = "sk-daemon-e2e-7f3a91c2"
KEY_ENV = "EDGE_MOMA_DAEMON_KEY"
SAY_HI = [{"role": "user", "content": "Say hi."}]


def config_text(data_dir: Path, *, server: str = "", extra: str = "") -> str:
    """The packaged default config with a small llama.cpp context and its own data dir."""
    text = default_config_path().read_text(encoding="utf-8")
    text = text.replace("context = 2048", "context = 512").replace("threads = 0", "threads = 1")
    text = text.replace('# data_dir = ""', f'data_dir = "{data_dir}"')
    if server:
        start = text.index("[server]")
        end = text.index("[budgets]")
        text = text[:start] + "[server]\n" + server + "\n\n" + text[end:]
    return text + extra


def accepts(path: Path) -> bool:
    """Whether something listens on ``path`` (a raw probe: httpcore's Unix-socket connect
    leaves its socket unclosed when the connect fails, a ResourceWarning under -W error)."""
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class Daemon:
    """One ``edge-moma serve`` subprocess with its own config, data dir and socket."""

    def __init__(self, root: Path, *, server: str = "", extra: str = "", sock: Path | None = None):
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.data = root / "data"
        self.config = root / "config.toml"
        self.config.write_text(config_text(self.data, server=server, extra=extra), "utf-8")
        self.socket = sock or root / "run" / "d.sock"
        self.stderr_path = root / "stderr.log"
        self.env = {
            **os.environ,
            "XDG_RUNTIME_DIR": str(root / "xdg-runtime"),
            "XDG_DATA_HOME": str(root / "xdg-data"),
            "XDG_CONFIG_HOME": str(root / "xdg-config"),
            KEY_ENV: KEY,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "edge_moma", "serve", "--config", str(self.config)] + [
            "--socket",
            str(self.socket),
        ]

    def start(self, wait: bool = True) -> Daemon:
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.command(), env=self.env, stderr=err)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        assert self.proc is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.stderr()}")
            if accepts(self.socket):
                with self.http() as http:
                    if http.get("/healthz").status_code == 200:
                        return
            time.sleep(0.1)
        raise AssertionError(f"daemon not ready after {timeout} s: {self.stderr()}")

    def http(self, timeout: float = 120.0) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.socket))
        return httpx.Client(transport=transport, base_url="http://daemon", timeout=timeout)

    def wait_in_flight(self, n: int, timeout: float = 60.0) -> None:
        """Wait until exactly ``n`` generations run (``/metrics``), or fail after ``timeout``."""
        with self.http() as http:
            deadline = time.monotonic() + timeout
            while f"edge_moma_generations_in_flight {n}\n" not in http.get("/metrics").text:
                assert time.monotonic() < deadline, f"not {n} generations in flight"
                time.sleep(0.05)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def log(self) -> LogStore:
        return LogStore.open(self.data / "decisions.db", readonly=True)
