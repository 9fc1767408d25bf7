from __future__ import annotations

from pathlib import Path

import pytest

from edge_moma.config import (
    LocalModel,
    RemoteModel,
    default_config_path,
    find_config,
    load_config,
    user_config_path,
)
from edge_moma.errors import ConfigError

GOOD = """
[runtime]
threads = 2
log_text = "hash"

[budgets]
daily_usd = 0.5
deadline_s = 10

[policy]
tradeoff = 0.8

[[policy.privacy]]
name = "email"
regex = '[\\w.]+@[\\w.]+'

[[models]]
name = "small"
kind = "local"
path = "model.gguf"
context = 1024

[[models]]
name = "cloud"
kind = "remote"
base_url = "http://127.0.0.1:9/v1"
model = "gpt-4o-mini"
api_key_env = "CLOUD_KEY"
price_in = 0.00015
price_out = 0.0006
profile = "gpt-4-1106-preview"

[[agents]]
name = "calculator"
kind = "builtin"
intents = ["calculator"]
"""


def test_good_config_is_typed(write_config, tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    cfg = load_config(write_config(GOOD))
    assert cfg.runtime.threads == 2 and cfg.runtime.log_text == "hash"
    assert cfg.budgets.deadline_s == 10.0 and isinstance(cfg.budgets.deadline_s, float)
    local, remote = cfg.models
    assert isinstance(local, LocalModel) and isinstance(remote, RemoteModel)
    assert local.resolved_path == tmp_path / "model.gguf"  # relative to the config file
    assert remote.price_out == 0.0006 and remote.profile == "gpt-4-1106-preview"
    assert cfg.agents[0].intents == ["calculator"]
    assert cfg.model("cloud") is remote and cfg.model("nope") is None


def test_default_config_loads_and_names_smollm() -> None:
    cfg = load_config(default_config_path())
    assert [m.kind for m in cfg.models] == ["local"]
    assert cfg.models[0].resolved_path is not None
    assert cfg.models[0].resolved_path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"


BAD = [
    # (config text, key path in the message, words the message must hold)
    ("[runtime]\nthreds = 2\n", "runtime.threds", "unknown key"),
    ("[budgets]\ndaily_usd = 'cheap'\n", "budgets.daily_usd", "expected a number"),
    ("[runtime]\nlog = 1\n", "runtime.log", "expected true or false"),
    ("[runtime]\nlog_text = 'all'\n", "runtime.log_text", "expected one of"),
    ("[policy]\ntradeoff = 3\n", "policy.tradeoff", "from 0 to 1"),
    ("[[models]]\nname = 'x'\nkind = 'gpu'\npath = 'a'\n", "models[0].kind", "expected one of"),
    (
        "[[models]]\nname = 'x'\nkind = 'local'\npath = 'missing.gguf'\n",
        "models[0].path",
        "does not exist",
    ),
    ("[[models]]\nname = 'x'\nkind = 'local'\n", "models[0].path", "missing required key"),
    (
        "[[models]]\nname='a'\nkind='remote'\nbase_url='http://h/v1'\nmodel='m'\n"
        "[[models]]\nname='b'\nkind='remote'\nbase_url='http://h/v1'\nmodel='m'\nprice_in='1'\n",
        "models[1].price_in",
        "expected a number",
    ),
    (
        "[[models]]\nname='a'\nkind='remote'\nbase_url='ftp://h'\nmodel='m'\n",
        "models[0].base_url",
        "http",
    ),
    (
        "[[models]]\nname='a'\nkind='remote'\nbase_url='http://h'\nmodel='m'\npath='x'\n",
        "models[0].path",
        "unknown key",
    ),
    ("models = 3\n", "models", "array of tables"),
    ("[[agents]]\nname = 'a'\nkind = 'http'\n", "agents[0].url", "http agent"),
    ("[[policy.privacy]]\nname = 'p'\nregex = '('\n", "policy.privacy[0].regex", "valid regex"),
    (
        "[budgets]\nbattery_low_percent = 5\nbattery_critical_percent = 10\n",
        "budgets.battery_critical_percent",
        "battery_low_percent",
    ),
    ("[plicy]\n", "plicy", "unknown section"),
    (
        "[[models]]\nname='a'\nkind='remote'\nbase_url='http://h'\nmodel='m'\n"
        "[[models]]\nname='a'\nkind='remote'\nbase_url='http://h'\nmodel='m'\n",
        "models[1].name",
        "twice",
    ),
    (
        "[[models]]\nname='a'\nkind='remote'\nbase_url='http://h'\nmodel='m'\npriors={math=2}\n",
        "models[0].priors.math",
        "expected a number from 0 to 1 (a quality per task)",
    ),
]


@pytest.mark.parametrize(("text", "key_path", "words"), BAD)
def test_bad_config_names_file_key_and_expectation(write_config, text, key_path, words) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert key_path in message and info.value.key_path == key_path
    assert words in message
    assert "\n" not in message  # one paragraph


def test_invalid_toml_and_missing_file(write_config, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write_config("[runtime\n"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "absent.toml")


def test_missing_model_file_is_kept_for_doctor(write_config) -> None:
    path = write_config("[[models]]\nname = 'x'\nkind = 'local'\npath = 'gone.gguf'\n")
    cfg = load_config(path, check_files=False)
    assert cfg.models[0].resolved_path is None


def test_search_order(isolated_dirs: Path, write_config, monkeypatch) -> None:
    assert find_config() == default_config_path()
    user = user_config_path()
    user.parent.mkdir(parents=True)
    user.write_text("[policy]\ntradeoff = 0.1\n")
    assert find_config() == user
    env = write_config("[policy]\ntradeoff = 0.2\n", name="env.toml")
    monkeypatch.setenv("EDGE_MOMA_CONFIG", str(env))
    assert find_config() == env
    explicit = write_config("[policy]\ntradeoff = 0.3\n", name="explicit.toml")
    assert load_config(explicit).policy.tradeoff == 0.3
    assert load_config().policy.tradeoff == 0.2


@pytest.mark.parametrize("name", ["default.toml", "laptop.toml", "phone.toml", "fleet.toml"])
def test_shipped_configs_are_valid(name: str) -> None:
    cfg = load_config(default_config_path().parent / name)
    assert cfg.models and all(m.name for m in cfg.models)


def test_readme_documents_every_config_key() -> None:
    import dataclasses

    from edge_moma import config as c

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    classes = [*c._SECTIONS.values(), c.LocalModel, c.RemoteModel, c.AgentConfig, c.PrivacyRule]
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.init and f.name != "resolved_path":
                assert f"`{f.name}`" in readme, f"{cls.__name__}.{f.name}"


SHIPPED = ["default.toml", "laptop.toml", "phone.toml", "fleet.toml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_answers_arithmetic_with_the_calculator(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    from edge_moma import Runtime

    for var in ("OPENAI_API_KEY", "TOGETHER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    cfg = load_config(default_config_path().parent / name)
    assert [a.name for a in cfg.agents] == ["calculator", "units", "clock", "reminders"]
    for m in cfg.models:  # example hosts only: nothing here may reach a real server
        if isinstance(m, RemoteModel):
            assert (urlsplit(m.base_url).hostname or "").endswith(".example"), m.base_url
    with Runtime(cfg) as rt:
        for context in ({"online": True}, {"online": False}):
            decision = rt.route("what's 15% of 80", context=context)
            assert (decision.stage, decision.target) == ("agent", "calculator"), decision.reason
        answer = rt.complete("what's 15% of 80")
    assert answer.target == "calculator" and "12" in answer.text
