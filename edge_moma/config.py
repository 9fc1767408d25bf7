"""One TOML file describes the device's world; it is validated here into typed objects.

Search order (first that exists wins): an explicit path (``--config``),
``$EDGE_MOMA_CONFIG``, ``config.toml`` in the user config dir (platformdirs),
then the packaged ``configs/default.toml``.

Validation is strict because a typo in a budget or a price silently changes
where a user's data goes and what it costs: an unknown key, a wrong type or a
missing model file is a ``ConfigError`` that names the file, the key path
(``models[1].price_in``), what was found and what was expected.

Example::

    >>> cfg = load_config()                      # doctest: +SKIP
    >>> [m.name for m in cfg.models]             # doctest: +SKIP
    ['smollm2-135m']
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Union

import platformdirs

from ._resources import packaged_path
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


@dataclass(frozen=True)
class RuntimeSettings:
    """Where the runtime keeps its files and how it logs."""

    data_dir: str = ""  # empty: the platformdirs user data dir
    threads: int = 0  # 0: one per core for llama.cpp; routing always uses one
    log: bool = True  # log every decision to SQLite
    log_text: LogText = "redact"  # what of the query text the log keeps
    device_id: str = ""  # empty: a random id kept in the data dir
    memory_budget_mb: float = 0.0  # loaded local models stay within this (LRU); 0: no limit
    circuit_failures: int = 3  # failures in a row that open a target's circuit breaker
    circuit_cooldown_s: float = 30.0  # how long an open circuit masks the target
    log_queue_size: int = 10_000  # decisions waiting for the log writer, at most
    log_when_full: Literal["drop", "block"] = "drop"  # a full queue drops (counted) or blocks 5 ms
    log_flush_ms: int = 200  # the writer flushes at least this often
    log_retention_days: float = 30.0  # delete decisions older than this; 0: keep
    log_max_mb: float = 256.0  # prune oldest (synced first) above this size; 0: no limit
    max_queue: int = 0  # requests waiting per local model; more are refused; 0: no limit


@dataclass(frozen=True)
class ServerSettings:
    """The local daemon (``edge-moma serve``): its socket, who may call it, its limits."""

    socket: str = ""  # empty: edge-moma.sock in the platformdirs user runtime dir
    allowed_uids: list[int] = field(default_factory=list)  # empty: only the daemon's own uid
    max_body_bytes: int = 1_048_576  # larger request bodies get 413
    grace_s: float = 10.0  # on SIGTERM, in-flight requests get this long to finish
    max_queue: int = 8  # [runtime] max_queue while serving, unless that is set


@dataclass(frozen=True)
class Budgets:
    """Spending, latency and battery limits the policy enforces."""

    daily_usd: float = 1.0
    monthly_usd: float = 20.0
    deadline_s: float = 30.0
    battery_low_percent: float = 20.0
    battery_critical_percent: float = 5.0


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

    tradeoff: float = 0.5
    expected_output_tokens: int = 256
    energy_weight: float = 0.002  # quality points per joule on low battery
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
    context: int = 2048
    threads: int = 0  # 0: [runtime].threads
    tokens_per_s: float = 20.0  # declared speed until measured on the device
    ttft_s: float = 0.3
    joules_per_token: float = 0.5
    memory_mb: float = 0.0  # 0: the file size
    chat_format: str = ""  # empty: the template stored in the GGUF
    chat_template: str = ""  # a Jinja chat template overriding the GGUF's (wins over chat_format)
    profile: str = ""
    priors: dict[str, float] = field(default_factory=dict)
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
    price_in: float = 0.0  # USD per 1k input tokens
    price_out: float = 0.0  # USD per 1k output tokens
    latency_s: float = 1.0  # typical time to first token
    tokens_per_s: float = 50.0
    timeout_s: float = 30.0  # read timeout: the longest silence between two bytes
    connect_timeout_s: float = 3.0  # a dead endpoint costs at most this before fallback
    max_retries: int = 2  # retries on 429 and 5xx answers (Retry-After honoured)
    retry_backoff_s: float = 0.5  # first retry wait, doubled each time
    profile: str = ""
    priors: dict[str, float] = field(default_factory=dict)

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
        return None


class ModelConfig(Protocol):
    """What every ``[[models]]`` entry is, whatever its kind (``targets/kinds.py``).

    ``traits()`` is all routing knows of a model besides its name and quality
    sources (``profile``, ``priors``); ``unavailable()`` says why it cannot run
    at all (known at load), or None.
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
    cost_usd: float = 0.0
    latency_s: float = 0.05
    threshold: float = 0.0  # 0: [agent_stage].threshold
    sensitive_ok: bool = True
    enabled: bool = True
    timeout_s: float = 10.0  # http agents: the longest wait for an answer

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

    threshold: float = 0.2  # default agent threshold on its intents' summed confidence
    switch_confidence: float = 0.8  # an intent this confident elsewhere ends an active dialog
    session_ttl_s: float = 900.0  # a session idle this long is forgotten
    follow_up_s: float = 120.0  # a finished agent takes follow-ups for this long
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
    ``resolved_path`` is None) so that ``edge-moma doctor`` can report it.
    """
    file = find_config(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no such config file; pass an existing file to --config or fix ${ENV_CONFIG}",
            path=str(file),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", path=str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=str(file)) from None
    return _build_config(raw, file, check_files=check_files)


def _build_config(raw: dict[str, Any], file: Path, *, check_files: bool) -> Config:
    src = str(file)
    known = {*_SECTIONS, "models", "agents"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"unknown section or key {key!r}; expected one of {sorted(known)}",
                path=src,
                key_path=key,
            )
    sections = {name: _build(cls, raw.get(name, {}), name, src) for name, cls in _SECTIONS.items()}
    models = [
        _build_model(m, f"models[{i}]", src, file.parent, check_files)
        for i, m in enumerate(_list_of_tables(raw, "models", src))
    ]
    agents = [
        _build(AgentConfig, a, f"agents[{i}]", src)
        for i, a in enumerate(_list_of_tables(raw, "agents", src))
    ]
    _check_unique([m.name for m in models], "models", src)
    _check_unique([a.name for a in agents], "agents", src)
    config = Config(path=file, models=models, agents=agents, **sections)
    _check_values(config)
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
            f"found kind = {kind!r}, expected one of {sorted(model_kinds())}",
            path=src,
            key_path=f"{key_path}.kind",
        )
    model: ModelConfig = _build(entry.config, raw, key_path, src)
    if isinstance(model, LocalModel):
        try:
            resolved = resolve_model_path(model.path, base_dir=base_dir)
        except ModelFileError as exc:
            if check_files:
                raise ConfigError(str(exc), path=src, key_path=f"{key_path}.path") from None
            resolved = None
        model = dataclasses.replace(model, resolved_path=resolved)
    return model


def _build(cls: type, raw: Any, key_path: str, src: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking every key and type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"found {_type_name(raw)}, expected a table", path=src, key_path=key_path)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
    settable = {n for n in fields if n != "resolved_path"}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{key_path}.{key}"
        if key not in settable:
            raise ConfigError(
                f"unknown key; expected one of {sorted(settable)}", path=src, key_path=path
            )
        kwargs[key] = _coerce(hints[key], value, path, src)
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
            f"missing required key {missing[0]!r}", path=src, key_path=f"{key_path}.{missing[0]}"
        )
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, path: str, src: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path, src)
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"found {value!r}, expected one of {list(args)}", path=src, key_path=path
            )
        return value
    if origin in (Union, types.UnionType):
        return _coerce(next(a for a in args if a is not type(None)), value, path, src)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(
                f"found {_type_name(value)}, expected an array", path=src, key_path=path
            )
        return [_coerce(args[0], v, f"{path}[{i}]", src) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(
                f"found {_type_name(value)}, expected a table", path=src, key_path=path
            )
        return {k: _coerce(args[1], v, f"{path}.{k}", src) for k, v in value.items()}
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, hint):
        return value
    raise ConfigError(
        f"found {_type_name(value)} {value!r}, expected {_TYPE_NAMES.get(hint, hint.__name__)}",
        path=src,
        key_path=path,
    )


_TYPE_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}


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
                f"found the name {name!r} twice; names must be unique",
                path=src,
                key_path=f"{section}[{i}].name",
            )
        seen.add(name)


def _check_values(config: Config) -> None:
    """Range checks that types alone cannot express."""
    src = str(config.path)

    def need(ok: bool, key_path: str, found: Any, expected: str) -> None:
        if not ok:
            raise ConfigError(f"found {found!r}, expected {expected}", path=src, key_path=key_path)

    p, b, r = config.policy, config.budgets, config.runtime
    need(r.log_queue_size > 0, "runtime.log_queue_size", r.log_queue_size, "an integer > 0")
    need(r.log_flush_ms > 0, "runtime.log_flush_ms", r.log_flush_ms, "an integer > 0")
    for key in ("log_retention_days", "log_max_mb"):
        need(getattr(r, key) >= 0, f"runtime.{key}", getattr(r, key), "a number >= 0 (0: off)")
    need(0.0 <= p.tradeoff <= 1.0, "policy.tradeoff", p.tradeoff, "a number from 0 to 1")
    need(
        p.expected_output_tokens > 0,
        "policy.expected_output_tokens",
        p.expected_output_tokens,
        "a positive integer",
    )
    for key in ("daily_usd", "monthly_usd", "deadline_s"):
        value = getattr(b, key)
        need(value >= 0, f"budgets.{key}", value, "a number >= 0")
    need(
        0 <= b.battery_critical_percent <= b.battery_low_percent <= 100,
        "budgets.battery_critical_percent",
        b.battery_critical_percent,
        "0 <= battery_critical_percent <= battery_low_percent <= 100",
    )
    r = config.runtime
    need(r.memory_budget_mb >= 0, "runtime.memory_budget_mb", r.memory_budget_mb, "MB >= 0")
    need(r.circuit_failures >= 1, "runtime.circuit_failures", r.circuit_failures, "an integer >= 1")
    need(r.circuit_cooldown_s >= 0, "runtime.circuit_cooldown_s", r.circuit_cooldown_s, ">= 0")
    need(r.max_queue >= 0, "runtime.max_queue", r.max_queue, "an integer >= 0 (0: no limit)")
    sv = config.server
    need(sv.max_body_bytes > 0, "server.max_body_bytes", sv.max_body_bytes, "an integer > 0")
    need(sv.grace_s >= 0, "server.grace_s", sv.grace_s, "seconds >= 0")
    need(sv.max_queue >= 0, "server.max_queue", sv.max_queue, "an integer >= 0 (0: no limit)")
    for i, rule in enumerate(p.privacy):
        need(
            bool(rule.regex or rule.keywords),
            f"policy.privacy[{i}]",
            rule.name,
            "a rule with a regex or keywords",
        )
        if rule.regex:
            try:
                re.compile(rule.regex)
            except re.error as exc:
                need(False, f"policy.privacy[{i}].regex", rule.regex, f"a valid regex ({exc})")
    for i, m in enumerate(config.models):
        need(m.tokens_per_s > 0, f"models[{i}].tokens_per_s", m.tokens_per_s, "a number > 0")
        for task, q in m.priors.items():
            need(0.0 <= q <= 1.0, f"models[{i}].priors.{task}", q, "a quality from 0 to 1")
        if isinstance(m, RemoteModel):
            need(
                m.base_url.startswith(("http://", "https://")),
                f"models[{i}].base_url",
                m.base_url,
                "an http:// or https:// URL",
            )
            for key in ("price_in", "price_out", "max_retries", "retry_backoff_s"):
                need(getattr(m, key) >= 0, f"models[{i}].{key}", getattr(m, key), "a number >= 0")
            for key in ("timeout_s", "connect_timeout_s"):
                need(getattr(m, key) > 0, f"models[{i}].{key}", getattr(m, key), "seconds > 0")
        elif isinstance(m, LocalModel):
            need(m.context > 0, f"models[{i}].context", m.context, "a positive integer")
    known_models = {m.name for m in config.models}
    st = config.agent_stage
    for key in ("threshold", "switch_confidence"):
        value = getattr(st, key)
        need(0 < value <= 1, f"agent_stage.{key}", value, "a number in (0, 1]")
    for key in ("session_ttl_s", "follow_up_s"):
        need(getattr(st, key) >= 0, f"agent_stage.{key}", getattr(st, key), "seconds >= 0")
    for i, a in enumerate(config.agents):
        need(0 <= a.threshold <= 1, f"agents[{i}].threshold", a.threshold, "a number from 0 to 1")
        need(a.timeout_s > 0, f"agents[{i}].timeout_s", a.timeout_s, "seconds > 0")
        for req in a.requires:
            need(
                req == "network" or req.startswith(("permission:", "slot:")),
                f"agents[{i}].requires",
                req,
                '"network", "permission:NAME" or "slot:NAME"',
            )
        if a.kind == "http":
            need(
                a.url.startswith(("http://", "https://")),
                f"agents[{i}].url",
                a.url,
                "an http:// or https:// URL for an http agent",
            )
        if a.name in known_models:
            need(False, f"agents[{i}].name", a.name, "a name no model has")
