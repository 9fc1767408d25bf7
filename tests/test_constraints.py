"""One constraint system: the same masks, over traits, for agents and models alike."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from situations import situation as sit

from edge_moma.config import AgentConfig, Budgets, LocalModel, Policy, RemoteModel
from edge_moma.decision import IntentScore, Understanding
from edge_moma.routing.agent_stage import AgentStage
from edge_moma.routing.constraints import MASKS, Situation, estimate, first_mask
from edge_moma.routing.policy import choose
from edge_moma.traits import TargetTraits

HERE = TargetTraits(on_device=True, needs_network=False, leaves_device=False, sensitive_ok=True)
AWAY = TargetTraits(on_device=False, needs_network=True, leaves_device=True, sensitive_ok=False)


def mask(traits: TargetTraits, situation: Situation, budgets: Budgets | None = None):
    found = first_mask(
        estimate("t", "any", traits, 0.5, situation), situation, budgets or Budgets()
    )
    return found[0] if found else None


@pytest.mark.parametrize(
    ("traits", "situation", "expected"),
    [
        (HERE, sit(), None),
        (TargetTraits(True, False, False, True, enabled=False), sit(), "disabled"),
        (HERE, sit(unavailable={"t": "circuit open"}), "unavailable"),
        (AWAY, sit(online=False), "network"),
        (HERE, sit(online=False), None),
        (AWAY, sit(sensitive_classes=("email",)), "privacy"),
        (TargetTraits(True, False, False, False), sit(sensitive_classes=("email",)), "privacy"),
        (TargetTraits(True, False, False, True, permissions=("calls",)), sit(), "permission"),
        (TargetTraits(True, False, False, True, permissions=("calls",)),
         sit(permissions=frozenset({"calls"})), None),
        (TargetTraits(True, False, False, True, slots=("city",)), sit(), "context"),
        (TargetTraits(True, False, False, True, usd_per_call=2.0), sit(), "budget"),
        (TargetTraits(True, False, False, True, usd_per_call=0.5), sit(spent_month_usd=19.8), "budget"),  # noqa: E501
        (TargetTraits(True, False, False, True, drains_battery=True),
         sit(battery_percent=3.0, charging=False), "battery"),
        (HERE, sit(battery_percent=3.0, charging=False), None),
        (TargetTraits(True, False, False, True, ttft_s=2.0), sit(deadline_s=1.0), "latency"),
        (TargetTraits(True, False, False, True, ttft_s=0.1, tokens_per_s=10.0),
         sit(deadline_s=5.0), "latency"),  # 0.1 s + 100 tokens at 10/s
    ],
)  # fmt: skip
def test_each_mask_fires_on_traits_alone(traits, situation, expected) -> None:
    assert mask(traits, situation) == expected


def test_the_first_mask_in_the_list_names_the_reason() -> None:
    everything_wrong = TargetTraits(
        on_device=False, needs_network=True, leaves_device=True, sensitive_ok=False, enabled=False
    )
    assert [name for name, _, _ in MASKS][:4] == ["disabled", "unavailable", "network", "privacy"]
    assert mask(everything_wrong, sit(online=False)) == "disabled"


def test_estimates_follow_the_traits() -> None:
    traits = TargetTraits(
        on_device=False, needs_network=True, leaves_device=True, sensitive_ok=False,
        usd_per_call=0.001, usd_per_1k_in=0.01, usd_per_1k_out=0.03, joules_per_token=0.5,
        ttft_s=0.4, tokens_per_s=50.0,
    )  # fmt: skip
    e = estimate("t", "remote", traits, 0.7, sit(prompt_tokens=200, output_tokens=100))
    assert e.cost_usd == pytest.approx(0.001 + (0.01 * 200 + 0.03 * 100) / 1000)
    assert e.latency_s == pytest.approx(0.4 + 100 / 50)
    assert e.energy_j == pytest.approx(0.5 * 300)
    agent = estimate("a", "agent", HERE, 0.9, sit())
    assert (agent.cost_usd, agent.latency_s, agent.energy_j) == (0.0, 0.0, 0.0)
    assert math.isinf(HERE.tokens_per_s)


def understanding(label: str) -> Understanding:
    return Understanding((IntentScore(label, 0.95),), False, "chat", 1.0, "t")


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        (sit(online=False), "network"),
        (sit(sensitive_classes=("email",)), "privacy"),
        (sit(spent_today_usd=0.9999), "budget"),
        (sit(spent_month_usd=19.9999), "budget"),
        (sit(unavailable={"booker": "circuit open", "cloud": "circuit open"}), "unavailable"),
    ],
)
def test_an_agent_and_a_model_with_the_same_traits_meet_the_same_masks(situation, expected) -> None:
    """The agent stage and the LLM stage read one list of masks: no constraint is written twice.
    (Before, an agent ignored the monthly budget and the deadline that models met.)"""
    agent = AgentConfig(name="booker", kind="http", url="http://127.0.0.1:9/", intents=["book"],
                        cost_usd=0.01)  # fmt: skip
    model = RemoteModel(name="cloud", base_url="http://127.0.0.1:9/v1", model="m", price_in=0.05)
    stage = AgentStage([agent], threshold=0.5, budgets=Budgets())
    picked = stage.select(understanding("book"), "book a table", situation)
    llm = choose([estimate("cloud", "remote", model.traits(), 0.9, situation)], situation,
                 Policy(tradeoff=1.0), Budgets())  # fmt: skip
    assert picked.candidates[0].masked_by == expected
    assert llm.candidates[0].masked_by == expected


def test_an_agent_slower_than_the_deadline_is_masked_like_a_model() -> None:
    agent = AgentConfig(name="slow", kind="builtin", intents=["book"], latency_s=2.0)
    local = LocalModel(name="l", path="x.gguf", ttft_s=2.0, tokens_per_s=1e9,
                       resolved_path=Path("x.gguf"))  # fmt: skip
    situation = sit(deadline_s=1.0)
    stage = AgentStage([agent], threshold=0.5, budgets=Budgets())
    assert stage.select(understanding("book"), "book", situation).candidates[0].masked_by == (
        "latency"
    )
    e = estimate("l", "local", local.traits(), 0.5, situation)
    assert first_mask(e, situation, Budgets()) is not None
    assert first_mask(e, situation, Budgets())[0] == "latency"  # type: ignore[index]
