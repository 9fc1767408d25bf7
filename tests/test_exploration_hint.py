"""The exploration hint: a refused router steers exploration only; propensities stay exact."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rollout_samples import derive
from test_exploration import CHEAP, DEAR, SITUATION, est, pools

from edge_moma import Runtime
from edge_moma.bundle_dirs import hint_bundle_dir, read_state, shipped_bundle_dir
from edge_moma.config import Budgets, Policy, RemoteModel, load_config
from edge_moma.errors import BundleError, DataError
from edge_moma.routing.bundle import read_card
from edge_moma.routing.exploration import choose_explored, plausible, propensities
from edge_moma.routing.policy import choose
from edge_moma.routing.utility import order
from edge_moma.training.fleet import publish
from edge_moma.training.rollout import install, is_hint_release, list_versions, rollback


@given(pools(), st.floats(0, 1), st.floats(0, 2), st.data())
def test_with_a_hint_propensities_sum_to_one_and_masked_ones_stay_zero(
    pool, rate, margin, data
) -> None:
    utilities, eligible, best, uncertainty = pool
    hint = data.draw(st.sampled_from([i for i, ok in enumerate(eligible) if ok]))
    p = propensities(utilities, eligible, best, rate, margin, uncertainty, hint)
    plain = propensities(utilities, eligible, best, rate, margin, uncertainty)
    assert math.isclose(sum(p), 1.0, abs_tol=1e-9)
    assert all(x == 0 for x, ok in zip(p, eligible, strict=True) if not ok)
    if hint == best:
        assert p == plain  # a hint that agrees with the greedy choice changes nothing
    else:  # the mixture: rate on the hint, the rest as without it
        assert p[hint] == pytest.approx(rate + (1 - rate) * plain[hint])
        assert p[best] == pytest.approx((1 - rate) * plain[best])
    d = data.draw(st.floats(0, 1, exclude_max=True))
    pick = choose_explored(utilities, eligible, best, rate, margin, uncertainty, d, hint)
    assert eligible[pick.index] and pick.propensity == p[pick.index] > 0
    assert pick.explored == (pick.index != best)


def test_a_masked_hint_is_ignored() -> None:
    utilities, eligible, unsure = [0.5, 0.4, 0.45], [True, True, False], [0.0, 1.0, 1.0]
    plain = propensities(utilities, eligible, 0, 0.3, 0.2, unsure)
    assert propensities(utilities, eligible, 0, 0.3, 0.2, unsure, 2) == plain
    for draw in (0.0, 0.1, 0.5, 0.99):
        pick = choose_explored(utilities, eligible, 0, 0.3, 0.2, unsure, draw, 2)
        assert pick == choose_explored(utilities, eligible, 0, 0.3, 0.2, unsure, draw)


def test_hinted_draw_frequencies_match_the_propensities() -> None:
    utilities, eligible = [0.50, 0.48, 0.45, 0.10, 0.49], [True, True, True, True, False]
    uncertainty = [0.2, 1.0, 0.5, 1.0, 1.0]
    p = propensities(utilities, eligible, 0, 0.3, 0.1, uncertainty, 3)
    n = 10_000
    counts = Counter(
        choose_explored(utilities, eligible, 0, 0.3, 0.1, uncertainty, (i + 0.5) / n, 3).index
        for i in range(n)
    )
    for i, share in enumerate(p):
        assert abs(counts[i] / n - share) < 1e-3
    # The hint (3) is tried at the rate although uncertainty alone would never try it.
    assert p[3] == pytest.approx(0.3) and counts[4] == 0


@given(pools(), st.floats(0, 1), st.floats(0, 2), st.data())
def test_the_pace_sets_how_often_and_the_view_where(pool, rate, margin, data) -> None:
    utilities, eligible, best, uncertainty = pool
    pace = data.draw(st.lists(st.floats(0, 1), min_size=len(pool[0]), max_size=len(pool[0])))
    p = propensities(utilities, eligible, best, rate, margin, uncertainty, pace=pace)
    near = plausible(utilities, eligible, best, margin, uncertainty)
    assert math.isclose(sum(p), 1.0, abs_tol=1e-9)
    assert all(p[i] == 0 for i in range(len(p)) if i != best and i not in near)
    tried = rate * max((pace[i] for i in near), default=0.0)
    assert 1 - p[best] == pytest.approx(tried, abs=1e-9)
    for i in near:  # the tries are shared by the view's uncertainty
        assert p[i] == pytest.approx(uncertainty[i] / sum(uncertainty[j] for j in near) * tried)
    d = data.draw(st.floats(0, 1, exclude_max=True))
    pick = choose_explored(utilities, eligible, best, rate, margin, uncertainty, d, pace=pace)
    assert eligible[pick.index] and pick.propensity == pytest.approx(p[pick.index])


def test_a_hint_that_knows_a_model_is_poor_stops_its_tries() -> None:
    """The installed router knows nothing of three models; the hint has learned that
    "dear" is poor here and is unsure of "mid": only "mid" is tried, at the installed
    router's pace, and the propensities the decision logs are the ones it drew from."""
    mid = RemoteModel("mid", base_url="http://h/v1", model="m", price_in=0.0002, price_out=0.0006)
    estimates = [est(CHEAP, 0.6, SITUATION), est(mid, 0.6, SITUATION), est(DEAR, 0.6, SITUATION)]
    policy = Policy(tradeoff=0.5, explore=0.2, explore_margin=0.3)
    unknown = [1.0, 1.0, 1.0]
    plain = Counter(
        choose(
            estimates, SITUATION, policy, Budgets(), draw=(i + 0.5) / 1000, uncertainty=unknown
        ).target
        for i in range(1000)
    )
    assert plain["dear"] > 0 and plain["mid"] > 0  # on ignorance alone, both are tried
    hinted = [
        choose(
            estimates, SITUATION, policy, Budgets(), draw=(i + 0.5) / 1000, uncertainty=unknown,
            hint_quality=[0.6, 0.58, 0.2], hint_uncertainty=[0.1, 0.9, 0.05],
        )
        for i in range(1000)
    ]  # fmt: skip
    counts = Counter(c.target for c in hinted)
    assert counts["dear"] == 0 and counts["cheap"] == 800 and counts["mid"] == 200
    assert {(c.target, c.propensity, c.explored) for c in hinted} == {
        ("cheap", 0.8, False),
        ("mid", 0.2, True),
    }


@settings(max_examples=60)
@given(st.floats(0, 1, exclude_max=True), st.floats(0, 1), st.floats(0, 1))
def test_a_hint_never_changes_the_greedy_choice_nor_picks_a_masked_one(
    draw: float, hint_cheap: float, hint_dear: float
) -> None:
    estimates = [est(CHEAP, 0.6, SITUATION), est(DEAR, 0.9, SITUATION)]
    policy = Policy(tradeoff=0.9, explore=0.2, explore_margin=0.0)
    plain = choose(estimates, SITUATION, policy, Budgets(), draw=draw)
    hinted = choose(
        estimates, SITUATION, policy, Budgets(), draw=draw, hint_quality=[hint_cheap, hint_dear]
    )
    assert hinted.candidates == plain.candidates  # the same figures and masks: same greedy
    ranking = order(
        [c.utility for c in hinted.candidates],
        [c.cost_usd for c in hinted.candidates],
        [c.quality for c in hinted.candidates],
        [c.eligible for c in hinted.candidates],
    )
    assert hinted.candidates[ranking[0]].target == plain.target == "dear"  # no margin: no try
    # Without a draw (exploration off) the hint is not looked at.
    assert choose(
        estimates, SITUATION, policy, Budgets(), hint_quality=[hint_cheap, hint_dear]
    ) == choose(estimates, SITUATION, policy, Budgets())
    # A budget too small for "dear" masks it: a hint toward it is never followed.
    poor = choose(
        estimates, SITUATION, policy, Budgets(daily_usd=0.0001), draw=draw, hint_quality=[0, 1]
    )
    assert poor.target == "cheap" and poor.propensity == 1.0 and not poor.explored


HINT_POOL = """
[runtime]
data_dir = "{data}"
log_text = "store"

[policy]
explore = {explore}
explore_margin = 0.0

[[models]]
name = "cloud-a"
kind = "remote"
base_url = "https://a.example/v1"
model = "a"
profile = "gpt-4-1106-preview"
price_in = 0.0001
price_out = 0.0002

[[models]]
name = "cloud-b"
kind = "remote"
base_url = "https://b.example/v1"
model = "b"
profile = "claude-v1"
price_in = 0.0001
price_out = 0.0002

[[models]]
name = "cloud-c"
kind = "remote"
base_url = "https://c.example/v1"
model = "c"
profile = "mistralai/mistral-7b-chat"
price_in = 0.0001
price_out = 0.0002
"""
QUERIES = ["Summarise the causes of the French revolution.", "Write a haiku about rain."] * 40
CTX = [{"online": True}] * len(QUERIES)


@pytest.fixture
def hint_release(tmp_path: Path) -> Path:
    """A release of the shipped routing bundle whose table rates mistral-7b best everywhere."""
    shipped = shipped_bundle_dir("routing")
    prior = read_card(shipped)["task_prior"]
    models = read_card(shipped)["known_models"]
    best = models.index("mistralai/mistral-7b-chat")
    table = [[0.99 if j == best else 0.1 for j in range(len(models))] for _ in prior["quality"]]
    bundle = derive(
        shipped, tmp_path / "hint-bundle", version="hint-1", task_prior={**prior, "quality": table}
    )
    return publish({"routing": bundle}, tmp_path / "releases", release="hint-1", hint=True)


@pytest.fixture
def make_rt(write_config: Callable[..., Path], tmp_path: Path) -> Callable[..., Runtime]:
    def make(explore: float) -> Runtime:
        text = HINT_POOL.format(data=tmp_path / "data", explore=explore)
        return Runtime(load_config(write_config(text)), explore_seed=3)

    return make


def _routed(rt: Runtime) -> list[tuple[str | None, float | None, bool]]:
    return [(d.target, d.propensity, d.explored) for d in rt.route_many(QUERIES, contexts=CTX)]


def test_an_installed_hint_steers_exploration_only(make_rt, hint_release: Path) -> None:
    with make_rt(0.2) as rt:
        before = rt.route_many(QUERIES, contexts=CTX)
        assert rt.router.hint is None
    greedy = {d.target for d in before if not d.explored}
    assert "cloud-c" not in greedy  # the installed router prefers another model
    data = make_rt(0.2).config.data_dir
    assert is_hint_release(hint_release)
    state = install(data, hint_release)
    assert state["hint"] == {"routing": "hint-1"} and "routing" not in state["active"]
    listed = list_versions(data, {"routing": shipped_bundle_dir("routing")})
    routing = [r for r in listed if r["kind"] == "routing"]
    assert [(r["version"], r["active"], r["hint"]) for r in routing][1:] == [
        ("hint-1", False, True)
    ]
    assert routing[0]["source"] == "shipped" and routing[0]["active"]
    with make_rt(0.2) as rt:
        assert rt.router.hint is not None and rt.router.quality.version != "hint-1"
        after = rt.route_many(QUERIES, contexts=CTX)
    # Every decision names the hint that shaped its propensity (the logging policy).
    assert {d.router_version for d in after} == {f"{before[0].router_version}+hint:hint-1"}
    for b, a in zip(before, after, strict=True):
        assert a.candidates == b.candidates  # the greedy figures are the installed router's
        if not a.explored:
            assert a.target == [d.target for d in before if not d.explored][0]
    tried = [d for d in after if d.explored]
    assert {d.target for d in tried} == {"cloud-b", "cloud-c"}
    # The hint's choice takes the rate (0.2) plus its share of the rest of the tries;
    # "cloud-b" ties the greedy choice in the hint's view (margin 0), so it is tried
    # too, at the pace of the installed router's small uncertainty about it.
    assert all(0.2 < d.propensity < 0.25 for d in tried if d.target == "cloud-c")
    assert all(0 < d.propensity < 0.05 for d in tried if d.target == "cloud-b")
    assert all(0.75 < d.propensity < 0.8 for d in after if not d.explored)
    assert 0.1 < len(tried) / len(after) < 0.35
    # Exploration off: the hint is not even loaded, decisions are the greedy ones.
    with make_rt(0.0) as rt:
        assert rt.router.hint is None and "+hint:" not in rt.router_version
        assert {d.target for d in rt.route_many(QUERIES, contexts=CTX)} == greedy


def test_without_a_hint_routing_is_as_before(make_rt, hint_release: Path, tmp_path: Path) -> None:
    with make_rt(0.5) as rt:
        first = _routed(rt)
    data = make_rt(0.5).config.data_dir
    # A state file written before hints existed, and one after a normal install: no hint.
    (data / "routers").mkdir(parents=True, exist_ok=True)
    (data / "routers" / "state.json").write_text('{"active": {}, "history": []}\n')
    with make_rt(0.5) as rt:
        assert hint_bundle_dir(rt.config) is None and _routed(rt) == first
    install(data, hint_release)
    assert hint_bundle_dir(make_rt(0.5).config) is not None
    plain = derive(shipped_bundle_dir("routing"), tmp_path / "plain", version="plain-1")
    state = install(data, plain)  # a promoted router replaces the one the hint was judged on
    assert "hint" not in state and state["active"]["routing"] == "plain-1"
    assert not (data / "routers" / "routing" / "hint-1").exists()
    with make_rt(0.5) as rt:
        assert rt.router.hint is None and _routed(rt) == first  # same table: same decisions
    install(data, hint_release)
    assert "hint" not in rollback(data)  # a rollback drops the hint too
    assert "hint" not in read_state(data)


def test_a_hint_release_holds_one_routing_bundle(
    hint_release: Path, tiny_intent: Path, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="one routing bundle"):
        publish({"intent": tiny_intent}, tmp_path / "releases", release="bad", hint=True)
    mixed = publish(
        {"intent": tiny_intent, "routing": hint_release / "routing"},
        tmp_path / "releases",
        release="mixed",
    )
    manifest = json.loads((mixed / "release.json").read_text())
    manifest["hint"] = True  # hand-edited: install refuses it and changes nothing
    (mixed / "release.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="one routing bundle"):
        install(tmp_path / "data", mixed)
    assert read_state(tmp_path / "data") == {"active": {}, "history": []}


def test_fleet_publish_hint_accepts_a_refused_candidate(hint_release: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps({"promote": False}))
    script = Path(__file__).resolve().parents[1] / "scripts" / "fleet.py"
    args = [sys.executable, str(script), "publish", "--routing", str(hint_release / "routing")]
    args += ["--gate", str(gate), "--out", str(tmp_path / "out")]
    refused = subprocess.run([*args, "--release", "r1"], capture_output=True, text=True)
    assert refused.returncode == 3 and "did not promote" in refused.stderr
    ok = subprocess.run([*args, "--release", "h1", "--hint"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["hint"] is True and is_hint_release(tmp_path / "out" / "h1")
