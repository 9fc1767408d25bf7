"""Exploration: propensities form a distribution over the eligible candidates; masks hold."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_moma import Runtime
from edge_moma.config import Budgets, Policy, RemoteModel, load_config
from edge_moma.log.store import LogStore
from edge_moma.routing.constraints import Estimate, Situation, estimate
from edge_moma.routing.exploration import choose_explored, plausible, propensities
from edge_moma.routing.policy import choose


@st.composite
def pools(draw: st.DrawFn) -> tuple[list[float], list[bool], int, list[float]]:
    n = draw(st.integers(1, 12))
    utilities = draw(st.lists(st.floats(-2, 2), min_size=n, max_size=n))
    eligible = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    uncertainty = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    best = draw(st.integers(0, n - 1))
    eligible[best] = True  # the policy's best is always an eligible candidate
    return utilities, eligible, best, uncertainty


RATES = st.floats(0, 1)
MARGINS = st.floats(0, 2)


@given(pools(), RATES, MARGINS)
def test_propensities_sum_to_one_over_eligible_and_are_zero_for_masked(pool, rate, margin) -> None:
    utilities, eligible, best, uncertainty = pool
    p = propensities(utilities, eligible, best, rate, margin, uncertainty)
    assert math.isclose(sum(p), 1.0, abs_tol=1e-9)
    assert all(x >= 0 for x in p)
    assert all(x == 0 for x, ok in zip(p, eligible, strict=True) if not ok)
    near = plausible(utilities, eligible, best, margin, uncertainty)
    assert all(p[i] == 0 for i in range(len(p)) if i != best and i not in near)
    assert p[best] >= 1 - rate - 1e-12


@given(pools(), RATES, MARGINS, st.floats(0, 1, exclude_max=True))
def test_a_draw_never_picks_a_masked_candidate_and_reports_its_propensity(
    pool, rate, margin, draw
) -> None:
    utilities, eligible, best, uncertainty = pool
    pick = choose_explored(utilities, eligible, best, rate, margin, uncertainty, draw)
    assert eligible[pick.index]
    p = propensities(utilities, eligible, best, rate, margin, uncertainty)
    assert pick.propensity == p[pick.index] and pick.propensity > 0
    assert pick.explored == (pick.index != best)


def test_draw_frequencies_match_the_propensities() -> None:
    utilities, eligible = [0.50, 0.48, 0.45, 0.10, 0.49], [True, True, True, True, False]
    uncertainty = [0.2, 1.0, 0.5, 1.0, 1.0]
    p = propensities(utilities, eligible, 0, 0.3, 0.1, uncertainty)
    n = 10_000
    counts = Counter(
        choose_explored(utilities, eligible, 0, 0.3, 0.1, uncertainty, (i + 0.5) / n).index
        for i in range(n)
    )
    for i, share in enumerate(p):
        assert abs(counts[i] / n - share) < 1e-3
    # The masked one (4) and the implausible one (3: too far behind) are never tried;
    # the unknown alternative is tried twice as often as the half-known one.
    assert counts[3] == counts[4] == 0 and p[1] == pytest.approx(2 * p[2])
    # The rate is scaled by the largest uncertainty among the plausible alternatives.
    assert 1 - p[0] == pytest.approx(0.3 * 1.0)


def test_no_rate_or_no_uncertainty_means_the_best_for_sure() -> None:
    utilities, eligible = [0.5, 0.49, 0.3], [True, True, True]
    assert propensities(utilities, eligible, 0, 0.0, 1.0, [1, 1, 1]) == [1.0, 0.0, 0.0]
    assert propensities(utilities, eligible, 0, 0.5, 1.0, [0, 0, 0]) == [1.0, 0.0, 0.0]
    assert choose_explored(utilities, eligible, 0, 0.5, 1.0, [0, 0, 0], 0.0).explored is False


CHEAP = RemoteModel("cheap", base_url="http://h/v1", model="c", price_in=0.0001, price_out=0.0003)
DEAR = RemoteModel("dear", base_url="http://h/v1", model="d", price_in=0.001, price_out=0.003)


def est(model: RemoteModel, quality: float, situation: Situation) -> Estimate:
    return estimate(model.name, model.kind, model.traits(), quality, situation)


SITUATION = Situation(
    battery_percent=None, charging=True, online=True, deadline_s=30.0,
    prompt_tokens=100, output_tokens=200,
)  # fmt: skip


@settings(max_examples=60)
@given(st.floats(0, 1, exclude_max=True))
def test_policy_explores_only_eligible_candidates_and_ranks_the_rest(draw: float) -> None:
    estimates = [est(CHEAP, 0.6, SITUATION), est(DEAR, 0.62, SITUATION)]
    policy = Policy(tradeoff=0.5, explore=0.5, explore_margin=1.0)
    open_ = choose(estimates, SITUATION, policy, Budgets(), draw=draw)
    assert {open_.target, *open_.fallbacks} == {"cheap", "dear"}
    assert open_.propensity in (0.5, 1.0 - 0.5)
    # A budget too small for "dear" masks it: exploration never picks it.
    poor = Budgets(daily_usd=0.0001)
    masked = choose(estimates, SITUATION, policy, poor, draw=draw)
    assert masked.target == "cheap" and masked.propensity == 1.0 and not masked.explored
    assert next(c for c in masked.candidates if c.target == "dear").masked_by == "budget"


def test_policy_without_a_draw_is_todays_deterministic_choice() -> None:
    estimates = [est(CHEAP, 0.6, SITUATION), est(DEAR, 0.9, SITUATION)]
    plain = choose(estimates, SITUATION, Policy(explore=0.0), Budgets())
    assert (plain.target, plain.propensity, plain.explored) == ("dear", 1.0, False)
    for draw in (0.0, 0.3, 0.99):
        off = choose(estimates, SITUATION, Policy(explore=0.0), Budgets(), draw=draw)
        assert off == plain


POOL = """
[runtime]
data_dir = "{data}"
log_text = "store"

[policy]
explore = {explore}
explore_margin = 5.0

[[agents]]
name = "calculator"
kind = "builtin"
intents = ["calculator"]

[[models]]
name = "cloud-a"
kind = "remote"
base_url = "https://a.example/v1"
model = "a"
price_in = 0.0001
price_out = 0.0002

[[models]]
name = "cloud-b"
kind = "remote"
base_url = "https://b.example/v1"
model = "b"
price_in = 0.0001
price_out = 0.0002

[[models]]
name = "cloud-c"
kind = "remote"
base_url = "https://c.example/v1"
model = "c"
price_in = 0.0001
price_out = 0.0002
"""
QUERIES = ["Summarise the causes of the French revolution.", "Write a haiku about rain."] * 30


@pytest.fixture
def make_rt(write_config: Callable[..., Path], tmp_path: Path) -> Callable[..., Runtime]:
    def make(explore: float, seed: int | None = 0) -> Runtime:
        text = POOL.format(data=tmp_path / "data", explore=explore)
        return Runtime(load_config(write_config(text)), explore_seed=seed)

    return make


def test_runtime_logs_the_propensity_and_never_explores_a_mask_or_a_pin(
    make_rt, tmp_path: Path
) -> None:
    with make_rt(0.9) as rt:
        online = rt.route_many(QUERIES, contexts=[{"online": True}] * len(QUERIES))
        assert any(d.explored for d in online) and not all(d.explored for d in online)
        for d in online:
            assert d.stage == "llm" and d.propensity is not None and 0 < d.propensity <= 1
        # cloud-c is unavailable (masked): it is never chosen, explored or not.
        rt._targets._mark_unavailable("cloud-c", "test")
        masked = rt.route_many(QUERIES, contexts=[{"online": True}] * len(QUERIES))
        assert all(d.target != "cloud-c" for d in masked)
        pinned = [rt.route(q, context={"online": True, "target": "cloud-b"}) for q in QUERIES]
        assert {d.target for d in pinned} == {"cloud-b"}
        assert all(d.propensity is None and not d.explored for d in pinned)
        agent = rt.route("what is 12 * 7", context={"online": True})
        assert agent.stage == "agent" and agent.propensity is None and not agent.explored
        assert rt.decision_log is not None
        rt.decision_log.flush()
    store = LogStore.open(tmp_path / "data" / "decisions.db", readonly=True)
    shown = store.show(online[0].id)
    assert shown["propensity"] == online[0].propensity
    assert shown["explored"] == online[0].explored
    assert store.show(pinned[0].id)["propensity"] is None
    store.close()


def test_seeded_runtimes_explore_alike_and_explore_zero_is_deterministic(make_rt) -> None:
    ctx = [{"online": True}] * len(QUERIES)
    with make_rt(0.5, seed=7) as a, make_rt(0.5, seed=7) as b:
        assert [d.target for d in a.route_many(QUERIES, contexts=ctx)] == [
            d.target for d in b.route_many(QUERIES, contexts=ctx)
        ]
    with make_rt(0.0, seed=None) as rt:
        first = rt.route_many(QUERIES, contexts=ctx)
        again = rt.route_many(QUERIES, contexts=ctx)
    assert [d.target for d in first] == [d.target for d in again]
    assert all(d.propensity == 1.0 and not d.explored for d in first)
