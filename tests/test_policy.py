from __future__ import annotations

from pathlib import Path

import pytest
from situations import situation

from edge_moma.config import Budgets, LocalModel, Policy, RemoteModel
from edge_moma.routing.constraints import Situation, estimate
from edge_moma.routing.policy import choose, tradeoff_lambda
from edge_moma.speed import Speed

LOCAL = LocalModel(
    name="local",
    path="x.gguf",
    tokens_per_s=50,
    ttft_s=0.2,
    joules_per_token=0.5,
    resolved_path=Path("x.gguf"),
)
CHEAP = RemoteModel(
    name="cheap",
    base_url="http://h/v1",
    model="c",
    price_in=0.0005,
    price_out=0.0015,
    latency_s=0.5,
    tokens_per_s=100,
)
STRONG = RemoteModel(
    name="strong",
    base_url="http://h/v1",
    model="s",
    price_in=0.01,
    price_out=0.03,
    latency_s=0.8,
    tokens_per_s=60,
)
QUALITY = {"local": 0.3, "cheap": 0.6, "strong": 0.9}


def est(model, quality: float, s: Situation, speed: Speed | None = None):
    return estimate(model.name, model.kind, model.traits(), quality, s, speed)


def decide(s: Situation, tradeoff: float = 0.5, budgets: Budgets | None = None, pool=None):
    pool = pool or (LOCAL, CHEAP, STRONG)
    estimates = [est(m, QUALITY[m.name], s) for m in pool]
    return choose(estimates, s, Policy(tradeoff=tradeoff), budgets or Budgets())


def test_estimate_figures_follow_the_config() -> None:
    s = situation()
    e = est(STRONG, 0.9, s)
    assert e.cost_usd == pytest.approx((0.01 * 100 + 0.03 * 200) / 1000)
    assert e.latency_s == pytest.approx(0.8 + 200 / 60)
    assert e.energy_j == 0
    loc = est(LOCAL, 0.3, s, Speed(ttft_s=0.1, tokens_per_s=100))  # measured speed wins
    assert loc.latency_s == pytest.approx(0.1 + 2.0) and loc.energy_j == pytest.approx(150.0)


def test_tradeoff_knob_moves_along_the_front() -> None:
    assert decide(situation(), tradeoff=1.0).target == "strong"
    assert decide(situation(), tradeoff=0.0).target == "local"
    assert tradeoff_lambda(1.0) == 0 and tradeoff_lambda(0.0) > tradeoff_lambda(0.5) > 0
    assert tradeoff_lambda(0.5, budget_left_fraction=0.1) == pytest.approx(
        tradeoff_lambda(0.5) * 10
    )


def masked(choice, target):
    return next(c for c in choice.candidates if c.target == target).masked_by


def test_network_mask_offline() -> None:
    c = decide(situation(online=False), tradeoff=1.0)
    assert c.target == "local"
    assert masked(c, "strong") == "network" and masked(c, "cheap") == "network"


def test_privacy_mask_keeps_sensitive_text_local() -> None:
    c = decide(situation(sensitive_classes=("email",)), tradeoff=1.0)
    assert c.target == "local" and masked(c, "strong") == "privacy"
    assert "email" in next(x for x in c.candidates if x.target == "strong").reason


def test_latency_mask() -> None:
    c = decide(situation(deadline_s=3.0), tradeoff=1.0)
    assert masked(c, "strong") == "latency" and c.target == "cheap"


def test_budget_mask_uses_spend() -> None:
    c = decide(situation(spent_today_usd=0.9999), tradeoff=1.0, budgets=Budgets(daily_usd=1.0))
    assert masked(c, "strong") == "budget" and masked(c, "cheap") == "budget"
    c = decide(situation(spent_month_usd=20.0), tradeoff=1.0)
    assert "monthly" in next(x for x in c.candidates if x.target == "strong").reason


def test_battery_penalty_and_critical_mask() -> None:
    low = decide(situation(battery_percent=15, charging=False), tradeoff=0.0)
    normal = decide(situation(), tradeoff=0.0)
    u = {c.target: c.utility for c in low.candidates}
    assert u["local"] < {c.target: c.utility for c in normal.candidates}["local"]
    crit = decide(situation(battery_percent=3, charging=False), tradeoff=0.0)
    assert masked(crit, "local") == "battery" and crit.target != "local"
    charging = decide(situation(battery_percent=3, charging=True), tradeoff=0.0)
    assert masked(charging, "local") is None


def test_unavailable_mask() -> None:
    c = decide(situation(unavailable={"strong": "circuit open"}), tradeoff=1.0)
    assert masked(c, "strong") == "unavailable" and c.target == "cheap"


def test_all_masked_names_the_cheapest_local_model() -> None:
    c = decide(situation(online=False, battery_percent=2, charging=False), tradeoff=1.0)
    assert c.all_masked and c.target == "local" and c.fallbacks == ()
    assert "least-bad" in c.reason
    over_budget = decide(situation(), budgets=Budgets(daily_usd=0.0), pool=(CHEAP, STRONG))
    assert over_budget.all_masked and over_budget.target == "cheap"


@pytest.mark.parametrize("kw", [{"online": False}, {"sensitive_classes": ("email",)}])
def test_a_remote_a_privacy_or_network_mask_removed_is_never_the_least_bad(kw) -> None:
    remote_only = decide(situation(**kw), pool=(CHEAP, STRONG))
    assert remote_only.all_masked and remote_only.target is None
    assert remote_only.fallbacks == () and "no other may see this request" in remote_only.reason


def test_empty_pool_has_no_target() -> None:
    c = choose([], situation(), Policy(), Budgets())
    assert c.target is None and c.all_masked


def test_ranking_and_determinism() -> None:
    a = decide(situation(), tradeoff=0.9)
    b = decide(situation(), tradeoff=0.9)
    assert a == b
    eligible = sorted((c for c in a.candidates if c.eligible), key=lambda c: -c.utility)
    assert (a.target, *a.fallbacks) == tuple(c.target for c in eligible)


def test_ties_go_to_the_first_configured_model() -> None:
    twin = RemoteModel(
        name="twin",
        base_url="http://h/v1",
        model="c",
        price_in=0.0005,
        price_out=0.0015,
        latency_s=0.5,
        tokens_per_s=100,
    )
    s = situation()
    estimates = [est(twin, 0.6, s), est(CHEAP, 0.6, s)]
    assert choose(estimates, s, Policy(), Budgets()).target == "twin"
    assert choose(estimates[::-1], s, Policy(), Budgets()).target == "cheap"
