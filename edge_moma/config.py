"""One TOML file describes the device's world; it is validated here into typed objects.

Search order (first that exists wins): an explicit path (``--config``),
``$EDGE_MOMA_CONFIG``, ``config.toml`` in the user config dir (platformdirs),
then the packaged ``configs/default.toml``.

Validation is strict because a typo in a budget or a price silently changes
where a user's data goes and what it costs: an unknown key, a wrong type, a
number outside its finite ``Range`` (declared next to its default with
``ranged``), an unusable path or a missing model file is a ``ConfigError``
that names the file, the key path (``models[1].price_in``), what was found and
what was expected. ``build`` checks any dataclass typed this way (a request's
context too); ``Range.problem``, ``url_problem`` and ``dir_problem`` are the
single checks, reusable where values come from elsewhere.

Example::

    >>> cfg = load_config()                      # doctest: +SKIP
    >>> [m.name for m in cfg.models]             # doctest: +SKIP
    ['smollm2-135m']
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import reprlib
import sys
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Union
from urllib.parse import urlsplit

import platformdirs

from ._resources import packaged_path
from .bundle_dirs import KINDS, bundle_dir
from .errors import ConfigError, ModelFileError
from .model_files import resolve_model_path
from .traits import TargetTraits

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

APP_NAME = "edge-moma"
ENV_CONFIG = "EDGE_MOMA_CONFIG"

LogText = Literal["store", "redact", "hash"]
DAY_S = 86_400
TERA_MB = 1 << 20  # a terabyte in MB: more than any device has
RANGE = "range"  # the dataclass field metadata key of a numeric key's ``Range``


@dataclass(frozen=True)
class Range:
    """The finite interval a numeric key's values take (each element of a list or table).

    ``above`` excludes ``lo`` itself; ``note`` says what a special value means.
    ``problem(value)`` is reusable wherever a number from outside is checked.
    """

    lo: float
    hi: float
    above: bool = False
    note: str = ""
    integer: bool = False  # only says "an integer" in messages; the type check is the field's

    def problem(self, value: float) -> str | None:
        """What is wrong with ``value`` (a number already), or None if it is in range."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"found {value!r}, expected {self}"
        if value < self.lo or (self.above and value == self.lo) or value > self.hi:
            return f"found {_show(value)}, expected {self}"
        return None

    def __str__(self) -> str:
        lo, hi = _number_text(self.lo), _number_text(self.hi)
        what = "an integer" if self.integer else "a number"
        text = f"{what} above {lo}, up to {hi}" if self.above else f"{what} from {lo} to {hi}"
        return f"{text} ({self.note})" if self.note else text


def _number_text(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def ranged(default: Any, lo: float, hi: float, *, above: bool = False, note: str = "") -> Any:
    """A dataclass field whose value must lie in ``Range(lo, hi, above, note)``."""
    integer = isinstance(default, int) and not isinstance(default, bool)
    return field(default=default, metadata={RANGE: Range(lo, hi, above, note, integer)})


def ranged_list(lo: float, hi: float, *, note: str = "") -> Any:
    """A list-of-integers field (default empty) whose every element lies in ``Range(lo, hi)``."""
    return field(default_factory=list, metadata={RANGE: Range(lo, hi, note=note, integer=True)})


def ranged_dict(lo: float, hi: float, *, note: str = "") -> Any:
    """A table field (default empty) whose every value must lie in ``Range(lo, hi)``."""
    return field(default_factory=dict, metadata={RANGE: Range(lo, hi, note=note)})


@dataclass(frozen=True)
class RuntimeSettings:
    """Where the runtime keeps its files and how it logs."""

    data_dir: str = ""  # empty: the platformdirs user data dir
    threads: int = ranged(0, 0, 1024, note="0: one per core")  # llama.cpp; routing uses one
    log: bool = True  # log every decision to SQLite
    log_text: LogText = "redact"  # what of the query text the log keeps
    device_id: str = ""  # empty: a random id kept in the data dir
    # loaded local models stay within this (LRU)
    memory_budget_mb: float = ranged(0.0, 0, TERA_MB, note="0: no limit")
    # failures in a row that open a target's circuit breaker, and how long it then masks it
    circuit_failures: int = ranged(3, 1, 1000)
    circuit_cooldown_s: float = ranged(30.0, 0, DAY_S)
    log_queue_size: int = ranged(10_000, 1, 10_000_000)  # decisions waiting for the log writer
    log_when_full: Literal["drop", "block"] = "drop"  # a full queue drops (counted) or blocks 5 ms
    log_flush_ms: int = ranged(200, 1, 60_000)  # the writer flushes at least this often
    log_retention_days: float = ranged(30.0, 0, 36_500, note="0: keep")  # delete older decisions
    # prune the oldest decisions (synced first) above this size
    log_max_mb: float = ranged(256.0, 0, TERA_MB, note="0: no limit")
    # requests waiting per local model; more are refused
    max_queue: int = ranged(0, 0, 100_000, note="0: no limit")
    # the longest routing waits on the log (start-up, close)
    log_wait_ms: int = ranged(250, 0, 60_000)


@dataclass(frozen=True)
class ServerSettings:
    """The local daemon (``edge-moma serve``): its socket, who may call it, its limits."""

    socket: str = ""  # empty: edge-moma.sock in the platformdirs user runtime dir
    # empty: only the daemon's own uid
    allowed_uids: list[int] = ranged_list(0, 4_294_967_294, note="each a uid")
    max_body_bytes: int = ranged(1_048_576, 1, 1 << 30)  # larger request bodies get 413
    grace_s: float = ranged(10.0, 0, 3600)  # on SIGTERM, in-flight requests get this long
    # [runtime] max_queue while serving, unless that is set
    max_queue: int = ranged(8, 0, 100_000, note="0: no limit")
    # more: the longest-idle connection is closed, else 503
    max_connections: int = ranged(1024, 1, 100_000)
    idle_timeout_s: float = ranged(10.0, 0, 3600, above=True)  # a connection with no request
    # a request's line and headers must arrive within this, and its body within this after
    header_timeout_s: float = ranged(10.0, 0, 3600, above=True)
    body_timeout_s: float = ranged(30.0, 0, 3600, above=True)


@dataclass(frozen=True)
class Budgets:
    """Spending, latency and battery limits the policy enforces."""

    daily_usd: float = ranged(1.0, 0, 1_000_000)
    monthly_usd: float = ranged(20.0, 0, 1_000_000)
    deadline_s: float = ranged(30.0, 0, DAY_S, above=True)
    battery_low_percent: float = ranged(20.0, 0, 100)
    battery_critical_percent: float = ranged(5.0, 0, 100, note="at most battery_low_percent")


@dataclass(frozen=True)
class PrivacyRule:
    """A class of sensitive text: a query matching it may only run on the device."""

    name: str
    regex: str = ""
    keywords: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    """The trade-off knob and privacy rules.

    ``tradeoff`` runs from 0 (cheapest that passes the constraints) to 1 (best
    predicted quality whatever it costs).
    """

    tradeoff: float = ranged(0.5, 0, 1)
    expected_output_tokens: int = ranged(256, 1, 1_000_000)
    energy_weight: float = ranged(0.002, 0, 1000)  # quality points per joule on low battery
    # Exploration of the LLM stage (routing/exploration.py): the share of decisions
    # that try a plausible alternative when the router knows nothing about it (less
    # as it learns), and how far behind the best an unknown alternative may be.
    explore: float = ranged(0.2, 0, 1, note="0: off")
    explore_margin: float = ranged(0.3, 0, 10)
    privacy: list[PrivacyRule] = field(default_factory=list)


@dataclass(frozen=True)
class RouterSettings:
    """Which router bundles to load; empty means the shipped ones."""

    intent_model: str = ""
    routing_model: str = ""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model run on the device by llama.cpp."""

    name: str
    path: str
    kind: Literal["local"] = "local"
    context: int = ranged(2048, 1, 1 << 20)
    threads: int = ranged(0, 0, 1024, note="0: [runtime] threads")
    tokens_per_s: float = ranged(20.0, 0, 1_000_000, above=True)  # declared until measured
    ttft_s: float = ranged(0.3, 0, 3600)
    joules_per_token: float = ranged(0.5, 0, 1000)
    memory_mb: float = ranged(0.0, 0, TERA_MB, note="0: the file size")
    chat_format: str = ""  # empty: the template stored in the GGUF
    chat_template: str = ""  # a Jinja chat template overriding the GGUF's (wins over chat_format)
    profile: str = ""
    priors: dict[str, float] = ranged_dict(0, 1, note="a quality per task")
    resolved_path: Path | None = None  # set at load

    def traits(self) -> TargetTraits:
        """On the device: private, offline-capable, and what the battery pays for."""
        return TargetTraits(
            on_device=True,
            needs_network=False,
            leaves_device=False,
            sensitive_ok=True,
            drains_battery=True,
            joules_per_token=self.joules_per_token,
            ttft_s=self.ttft_s,
            tokens_per_s=self.tokens_per_s,
        )

    def unavailable(self) -> str | None:
        """Why the model cannot run at all, known at load: its file is missing."""
        return None if self.resolved_path else f"model file {self.path!r} not found"


@dataclass(frozen=True)
class RemoteModel:
    """An OpenAI-compatible chat-completions endpoint."""

    name: str
    base_url: str
    model: str
    kind: Literal["remote"] = "remote"
    api_key_env: str = ""
    price_in: float = ranged(0.0, 0, 1000)  # USD per 1k input tokens
    price_out: float = ranged(0.0, 0, 1000)  # USD per 1k output tokens
    latency_s: float = ranged(1.0, 0, 3600)  # typical time to first token
    tokens_per_s: float = ranged(50.0, 0, 1_000_000, above=True)
    # read timeout: the longest silence between two bytes
    timeout_s: float = ranged(30.0, 0, 3600, above=True)
    # a dead endpoint costs at most this before fallback
    connect_timeout_s: float = ranged(3.0, 0, 600, above=True)
    max_retries: int = ranged(2, 0, 100)  # retries on 429 and 5xx answers (Retry-After honoured)
    retry_backoff_s: float = ranged(0.5, 0, 600)  # first retry wait, doubled each time
    profile: str = ""
    priors: dict[str, float] = ranged_dict(0, 1, note="a quality per task")

    def missing_key(self) -> str | None:
        """Why this model cannot be called now: its key variable is named but unset or blank."""
        if self.api_key_env and not os.environ.get(self.api_key_env, "").strip():
            return (
                f"the API key variable ${self.api_key_env} is not set; "
                "export it or remove api_key_env"
            )
        return None

    def traits(self) -> TargetTraits:
        """Off the device: needs the network, sees no sensitive text, costs per token."""
        return TargetTraits(
            on_device=False,
            needs_network=True,
            leaves_device=True,
            sensitive_ok=False,
            usd_per_1k_in=self.price_in,
            usd_per_1k_out=self.price_out,
            ttft_s=self.latency_s,
            tokens_per_s=self.tokens_per_s,
        )

    def unavailable(self) -> str | None:
        """Why the model cannot be called now (read at start and reload): no API key."""
        return self.missing_key()


class ModelConfig(Protocol):
    """What every ``[[models]]`` entry is, whatever its kind (``targets/kinds.py``).

    ``traits()`` is all routing knows of a model besides its name and quality
    sources (``profile``, ``priors``); ``unavailable()`` says why it cannot run
    now (checked when the runtime starts and when it reloads), or None.
    """

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def profile(self) -> str: ...
    @property
    def priors(self) -> dict[str, float]: ...
    @property
    def tokens_per_s(self) -> float: ...

    def traits(self) -> TargetTraits: ...

    def unavailable(self) -> str | None: ...


@dataclass(frozen=True)
class AgentConfig:
    """An agent, the intents it takes and what it needs (see ``agent_stage.py``).

    ``requires`` lists ``"network"``, ``"permission:NAME"`` and ``"slot:NAME"``.
    """

    name: str
    kind: Literal["builtin", "http", "python"]
    intents: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    url: str = ""
    entry_point: str = ""
    cost_usd: float = ranged(0.0, 0, 1000)
    latency_s: float = ranged(0.05, 0, 3600)
    threshold: float = ranged(0.0, 0, 1, note="0: [agent_stage] threshold")
    sensitive_ok: bool = True
    enabled: bool = True
    timeout_s: float = ranged(10.0, 0, 3600, above=True)  # http agents: the longest wait

    def traits(self) -> TargetTraits:
        """An http agent is remote (network, never sensitive text); the others run here."""
        remote = self.kind in REMOTE_AGENT_KINDS
        return TargetTraits(
            on_device=not remote,
            needs_network=remote or "network" in self.requires,
            leaves_device=remote,
            sensitive_ok=self.sensitive_ok and not remote,
            usd_per_call=self.cost_usd,
            ttft_s=self.latency_s,
            permissions=_required(self.requires, "permission:"),
            slots=_required(self.requires, "slot:"),
            enabled=self.enabled,
        )


REMOTE_AGENT_KINDS = frozenset({"http"})


def _required(requires: list[str], prefix: str) -> tuple[str, ...]:
    return tuple(r.removeprefix(prefix) for r in requires if r.startswith(prefix))


@dataclass(frozen=True)
class AgentStageSettings:
    """When an agent takes a turn, and how long a dialog with it lasts."""

    # default agent threshold on its intents' summed confidence
    threshold: float = ranged(0.2, 0, 1, above=True)
    # an intent this confident elsewhere ends an active dialog
    switch_confidence: float = ranged(0.8, 0, 1, above=True)
    session_ttl_s: float = ranged(900.0, 0, 30 * DAY_S)  # a session idle this long is forgotten
    follow_up_s: float = ranged(120.0, 0, DAY_S)  # a finished agent takes follow-ups this long
    persist_sessions: bool = False  # keep sessions in SQLite across restarts


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; ``path`` is the file it came from."""

    path: Path
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    budgets: Budgets = field(default_factory=Budgets)
    policy: Policy = field(default_factory=Policy)
    router: RouterSettings = field(default_factory=RouterSettings)
    agent_stage: AgentStageSettings = field(default_factory=AgentStageSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    models: list[ModelConfig] = field(default_factory=list)
    agents: list[AgentConfig] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        if self.runtime.data_dir:
            return Path(self.runtime.data_dir).expanduser()
        return Path(platformdirs.user_data_dir(APP_NAME))

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)


_SECTIONS: dict[str, type] = {
    "runtime": RuntimeSettings,
    "budgets": Budgets,
    "policy": Policy,
    "router": RouterSettings,
    "agent_stage": AgentStageSettings,
    "server": ServerSettings,
}


def default_config_path() -> Path:
    return packaged_path("configs") / "default.toml"


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def find_config(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file in effect, by the documented search order."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser()
    user = user_config_path()
    return user if user.is_file() else default_config_path()


def load_config(path: str | os.PathLike[str] | None = None, *, check_files: bool = True) -> Config:
    """Read, validate and type the config in effect.

    ``check_files=False`` keeps a local model whose file is missing (its
    ``resolved_path`` is None) and a ``data_dir`` or router bundle that is
    not a directory, so that ``edge-moma doctor`` can report them.
    """
    file = find_config(path)
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"no such config file; pass an existing file to --config or fix ${ENV_CONFIG}",
            path=str(file),
        ) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise ConfigError(f"cannot read the file: {exc}", path=str(file)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the file is larger than {MAX_CONFIG_BYTES // 1024} kB; a config is a few kB "
            "of TOML: is it the right file?",
            path=str(file),
        )
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        why = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise ConfigError(why, path=str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(file)) from None
    except RecursionError:
        raise ConfigError(
            "not valid TOML for a config: arrays or tables nested too deeply", path=str(file)
        ) from None
    return _build_config(raw, file, check_files=check_files)


MAX_CONFIG_BYTES = 1 << 20


def _build_config(raw: dict[str, Any], file: Path, *, check_files: bool) -> Config:
    src = str(file)
    known = {*_SECTIONS, "models", "agents"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"unknown section or key; expected one of {sorted(known)}",
                path=src,
                key_path=_key(key),
            )
    sections = {name: build(cls, raw.get(name, {}), name, src) for name, cls in _SECTIONS.items()}
    models = [
        _build_model(m, f"models[{i}]", src, file.parent, check_files)
        for i, m in enumerate(_list_of_tables(raw, "models", src))
    ]
    agents = [
        build(AgentConfig, a, f"agents[{i}]", src)
        for i, a in enumerate(_list_of_tables(raw, "agents", src))
    ]
    _check_unique([m.name for m in models], "models", src)
    _check_unique([a.name for a in agents], "agents", src)
    config = Config(path=file, models=models, agents=agents, **sections)
    _check_values(config)
    _check_paths(config, check_files)
    return config


def _list_of_tables(raw: dict[str, Any], key: str, src: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(
            f"found {_type_name(value)}, expected an array of tables ([[{key}]])",
            path=src,
            key_path=key,
        )
    return value


def _build_model(
    raw: Any, key_path: str, src: str, base_dir: Path, check_files: bool
) -> ModelConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"found {_type_name(raw)}, expected a table", path=src, key_path=key_path)
    from .targets.kinds import model_kind, model_kinds  # it names this module's classes

    kind = raw.get("kind")
    entry = model_kind(kind) if isinstance(kind, str) else None
    if entry is None:
        raise ConfigError(
            f"found kind = {_show(kind)}, expected one of {sorted(model_kinds())}",
            path=src,
            key_path=f"{key_path}.kind",
        )
    model: ModelConfig = build(entry.config, raw, key_path, src)
    if isinstance(model, LocalModel):
        _check_path_text(model.path, f"{key_path}.path", src)
        try:
            resolved = resolve_model_path(model.path, base_dir=base_dir)
        except ModelFileError as exc:
            if check_files:
                raise ConfigError(str(exc), path=src, key_path=f"{key_path}.path") from None
            resolved = None
        model = dataclasses.replace(model, resolved_path=resolved)
    return model


def build(cls: type, raw: Any, key_path: str, src: str = "") -> Any:
    """Dataclass ``cls`` from a table (TOML or JSON), checking every key, type and range.

    Reusable for any dataclass typed like the config's: ``ConfigError`` names
    ``key_path`` and the offending key; a field made with ``ranged`` is range-checked.
    """
    if not isinstance(raw, dict):
        raise ConfigError(
            f"found {_type_name(raw)}, expected a table", path=src or None, key_path=key_path
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    settable = {n for n in fields if n != "resolved_path"}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{key_path}.{_key(key)}"
        if key not in settable:
            raise ConfigError(
                f"unknown key; expected one of {sorted(settable)}", path=src or None, key_path=path
            )
        value = _coerce(hints[key], value, path, src)
        bounds = fields[key].metadata.get(RANGE)
        if bounds is not None:
            _check_range(bounds, value, path, src)
        kwargs[key] = value
    missing = [
        n
        for n, f in fields.items()
        if n in settable
        and n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(
            f"missing required key {missing[0]!r}",
            path=src or None,
            key_path=f"{key_path}.{missing[0]}",
        )
    return cls(**kwargs)


def check_value(hint: Any, value: Any, key_path: str) -> Any:
    """``value`` checked and typed against ``hint`` by the config's own rules, or a
    ``ConfigError`` naming ``key_path``; the routing context (``context.py``) uses it too."""
    return _coerce(hint, value, key_path, "")


def _coerce(hint: Any, value: Any, path: str, src: str) -> Any:
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    def wrong(expected: str) -> ConfigError:
        found = f"{_type_name(value)} {_show(value)}"
        return ConfigError(f"found {found}, expected {expected}", path=src or None, key_path=path)

    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, path, src)
    if origin is Literal:
        if not isinstance(value, (str, int, float, bool)) or value not in args:
            raise wrong(f"one of {list(args)}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:  # JSON null (TOML has none)
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, path, src)
    if origin is list:
        if not isinstance(value, list):
            raise wrong("an array")
        return [_coerce(args[0], v, f"{path}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong("a table")
        return {k: _coerce(args[1], v, f"{path}.{_key(k)}", src) for k, v in value.items()}
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise wrong("a number a double can hold") from None
            if not math.isfinite(number):
                raise wrong("a finite number")
            return number
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is str:
        if isinstance(value, str):
            return value
    elif isinstance(value, hint):
        return value
    raise wrong(_TYPE_NAMES.get(hint, getattr(hint, "__name__", str(hint))))


def _check_range(bounds: Range, value: Any, path: str, src: str) -> None:
    """``value`` (a number, or a list or table of numbers) within ``bounds``."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_range(bounds, v, f"{path}[{i}]", src)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_range(bounds, v, f"{path}.{_key(k)}", src)
    elif value is not None:
        problem = bounds.problem(value)
        if problem:
            raise ConfigError(problem, path=src or None, key_path=path)


_TYPE_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict = 2, 4, 4


def _show(value: Any) -> str:
    """A short, one-line repr for error messages (a value may be huge or deeply nested)."""
    return _REPR.repr(value)


def _key(key: Any) -> str:
    """A key as a key path shows it: bare if plain, else quoted."""
    text = str(key)
    return text if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text) else _show(text)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return {int: "an integer", float: "a number", str: "a string"}.get(type(value), "a value")


def _check_unique(names: list[str], section: str, src: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ConfigError(
                f"found the name {_show(name)} twice; names must be unique",
                path=src,
                key_path=f"{section}[{i}].name",
            )
        seen.add(name)


RESERVED_NAMES = frozenset({"auto"})  # the daemon's "route it" model name
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
UNIX_SOCKET_MAX = 107  # bytes of a Unix socket path (sun_path less its NUL)


def url_problem(url: str) -> str | None:
    """Why ``url`` is not an http(s) URL with a host, or None."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "it holds spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it needs http:// or https:// and a host"
    return None


def _check_values(config: Config) -> None:
    """What types and ranges alone cannot express: relations, patterns, names."""
    src = str(config.path)

    def need(ok: bool, key_path: str, found: Any, expected: str) -> None:
        if not ok:
            raise ConfigError(
                f"found {_show(found)}, expected {expected}", path=src, key_path=key_path
            )

    p, b, r = config.policy, config.budgets, config.runtime
    need(
        b.battery_critical_percent <= b.battery_low_percent,
        "budgets.battery_critical_percent",
        b.battery_critical_percent,
        "0 <= battery_critical_percent <= battery_low_percent <= 100",
    )
    need(
        not r.device_id or bool(_DEVICE_ID.fullmatch(r.device_id)),
        "runtime.device_id",
        r.device_id,
        "letters, digits, '.', '_', '@' or '-' (at most 128; it names sync batch files)",
    )
    for i, rule in enumerate(p.privacy):
        key = f"policy.privacy[{i}]"
        need(bool(rule.name.strip()), f"{key}.name", rule.name, "a name (it replaces matches)")
        need(bool(rule.regex or rule.keywords), key, rule.name, "a rule with a regex or keywords")
        for j, word in enumerate(rule.keywords):
            need(bool(word.strip()), f"{key}.keywords[{j}]", word, "a word (blank matches all)")
        if rule.regex:
            try:
                with warnings.catch_warnings():  # "[a--b]" warns of a future meaning: still valid
                    warnings.simplefilter("ignore", FutureWarning)
                    everything = re.compile(rule.regex).search("") is not None
            except (re.error, RecursionError, OverflowError) as exc:
                need(False, f"{key}.regex", rule.regex, f"a valid regex ({exc})")
            need(
                not everything,
                f"{key}.regex",
                rule.regex,
                "a regex that does not match the empty text (it would match every query)",
            )
    for i, m in enumerate(config.models):
        _check_name(m.name, f"models[{i}].name", src)
        if isinstance(m, RemoteModel):
            problem = url_problem(m.base_url)
            need(
                problem is None,
                f"models[{i}].base_url",
                m.base_url,
                f"an http:// or https:// URL ({problem})",
            )
            if m.api_key_env and not _ENV_NAME.fullmatch(m.api_key_env):
                raise ConfigError(  # never echo it: it may be the key itself
                    "is not the name of an environment variable (letters, digits and _); put the "
                    "NAME of the variable that holds the key here (e.g. OPENAI_API_KEY), never "
                    "the key itself",
                    path=src,
                    key_path=f"models[{i}].api_key_env",
                )
    known_models = {m.name for m in config.models}
    for i, a in enumerate(config.agents):
        _check_name(a.name, f"agents[{i}].name", src)
        for j, intent in enumerate(a.intents):
            need(bool(intent.strip()), f"agents[{i}].intents[{j}]", intent, "an intent label")
        for req in a.requires:
            need(
                req == "network" or req.startswith(("permission:", "slot:")),
                f"agents[{i}].requires",
                req,
                '"network", "permission:NAME" or "slot:NAME"',
            )
        if a.kind == "http":
            problem = url_problem(a.url)
            need(
                problem is None,
                f"agents[{i}].url",
                a.url,
                f"an http:// or https:// URL for an http agent ({problem})",
            )
        if a.name in known_models:
            need(False, f"agents[{i}].name", a.name, "a name no model has")


def _check_name(name: str, key_path: str, src: str) -> None:
    if not name.strip() or len(name) > 128 or not name.isprintable() or name in RESERVED_NAMES:
        raise ConfigError(
            f"found {_show(name)}, expected a printable name of 1 to 128 characters other "
            f"than {sorted(RESERVED_NAMES)} (it names the target in decisions and the API)",
            path=src,
            key_path=key_path,
        )


def _check_path_text(value: str, key_path: str, src: str) -> None:
    if "\0" in value:
        raise ConfigError(
            f"found {_show(value)}, expected a path (it holds a NUL byte)",
            path=src,
            key_path=key_path,
        )


def dir_problem(path: Path, *, writable: bool = False) -> str | None:
    """Why ``path`` cannot be (or be created as) a directory, or None; also checks that
    it (or the existing parent it would be created in) is writable if ``writable``."""
    existing = path
    try:
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent
        if not existing.is_dir():
            if existing == path:
                return f"{path} is a file, not a directory"
            return f"{path} cannot be created: {existing} is a file, not a directory"
    except OSError as exc:
        return f"{path} cannot be checked: {exc.strerror or exc}"
    if writable and not os.access(existing, os.W_OK | os.X_OK):
        if existing == path:
            return f"{path} is not writable by this user"
        return f"{path} cannot be created: {existing} is not writable by this user"
    return None


def _check_paths(config: Config, check_files: bool) -> None:
    """Every path key: no NUL byte; with ``check_files``, directories where they are needed."""
    src = str(config.path)
    r, sv, rt = config.runtime, config.server, config.router
    for key, value in (
        ("runtime.data_dir", r.data_dir),
        ("server.socket", sv.socket),
        ("router.intent_model", rt.intent_model),
        ("router.routing_model", rt.routing_model),
    ):
        _check_path_text(value, key, src)
    if sv.socket:
        sock = Path(sv.socket).expanduser().absolute()
        if len(os.fsencode(str(sock))) > UNIX_SOCKET_MAX:
            raise ConfigError(
                f"found {_show(str(sock))}, expected a path of at most {UNIX_SOCKET_MAX} bytes "
                "(the limit of a Unix socket)",
                path=src,
                key_path="server.socket",
            )
    if not check_files:
        return
    problem = dir_problem(config.data_dir)
    if problem:
        raise ConfigError(problem, path=src, key_path="runtime.data_dir")
    if sv.socket:
        sock = Path(sv.socket).expanduser().absolute()
        problem = sock.is_dir() and f"{sock} is a directory" or dir_problem(sock.parent)
        if problem:
            raise ConfigError(problem, path=src, key_path="server.socket")
    for kind in KINDS:
        setting = rt.intent_model if kind == "intent" else rt.routing_model
        if setting and not bundle_dir(config, kind).is_dir():
            raise ConfigError(
                f"no router bundle directory at {bundle_dir(config, kind)}",
                path=src,
                key_path=f"router.{kind}_model",
            )
