"""The one ranking rule: the runtime's policy and the routing benchmark choose alike, ties too."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from situations import situation as make_situation

from edge_moma.config import Budgets, Policy, RemoteModel
from edge_moma.routing.constraints import estimate
from edge_moma.routing.policy import choose
from edge_moma.routing.utility import order, rank, select, select_batch


def test_select_trades_quality_for_cost() -> None:
    quality, cost = np.array([0.9, 0.7, 0.7]), np.array([1.0, 0.1, 0.1])
    assert select(quality, cost, 0.0) == 0
    assert select(quality, cost, 0.5) == 1  # 0.65 > 0.4; the tie with 2 goes to the lower index
    assert select(quality, cost, math.inf) == 1
    assert select(quality, cost, 0.0, eligible=np.array([False, True, True])) == 1
    assert select(quality, cost, 0.0, eligible=np.array([False, False, False])) == -1
    assert rank(quality, cost, 0.5) == [1, 2, 0]
    batch = select_batch(np.tile(quality, (3, 1)), np.tile(cost, (3, 1)), 0.5)
    assert batch.tolist() == [1, 1, 1]
    with pytest.raises(ValueError):
        select(quality, cost, -1.0)


def test_equal_utility_goes_to_the_cheaper_model() -> None:
    assert select(np.array([0.6, 0.5]), np.array([0.2, 0.1]), 1.0) == 1


def test_ties_go_to_the_lower_cost_then_the_higher_quality_then_the_first() -> None:
    # utility 0.5 for all: (q, c) = (0.6, 0.1), (0.55, 0.05), (0.7, 0.2), (0.55, 0.05)
    u, c, q = [0.5, 0.5, 0.5, 0.5], [0.1, 0.05, 0.2, 0.05], [0.6, 0.55, 0.7, 0.55]
    assert order(u, c, q) == [1, 3, 0, 2]
    u, c, q = [0.5, 0.5], [0.1, 0.1], [0.5, 0.6]
    assert order(u, c, q) == [1, 0]
    assert order([0.5, math.nan, -math.inf], [0, 0, 0], [0, 0, 0]) == [0]


# Values from a small set, so that equal utilities, costs and qualities are common.
GRID = st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 1.0])
ROWS = st.integers(1, 6).flatmap(
    lambda m: st.tuples(
        arrays(np.float64, (4, m), elements=GRID),
        arrays(np.float64, (4, m), elements=GRID),
        arrays(np.bool_, (4, m)),
    )
)


@given(ROWS, st.sampled_from([0.0, 0.5, 1.0, 2.0, math.inf]))
def test_the_benchmark_batch_rule_is_the_runtime_rule(rows, lam: float) -> None:
    quality, cost, eligible = rows
    batch = select_batch(quality, cost, lam, eligible)
    for i in range(len(quality)):
        ranked = rank(quality[i], cost[i], lam, eligible[i])
        assert (
            batch[i]
            == (ranked[0] if ranked else -1)
            == select(quality[i], cost[i], lam, eligible[i])
        )


def _cloud(name: str, price: float) -> RemoteModel:
    return RemoteModel(name=name, base_url="http://127.0.0.1:9/v1", model="m", price_in=price)


def test_the_policy_and_the_benchmark_pick_the_same_model_on_a_tie() -> None:
    """At tradeoff 1 utility is the quality alone: two models of equal quality tie, and both
    the runtime's policy and the benchmark's rule take the cheaper one, wherever it is listed."""
    situation = make_situation(prompt_tokens=1000, output_tokens=0)
    pool = [_cloud("pricey", 0.02), _cloud("cheap", 0.01), _cloud("weak", 0.0)]
    quality = [0.8, 0.8, 0.3]
    estimates = [
        estimate(m.name, m.kind, m.traits(), q, situation)
        for m, q in zip(pool, quality, strict=True)
    ]
    chosen = choose(estimates, situation, Policy(tradeoff=1.0), Budgets(daily_usd=100.0))
    costs = np.array([[e.cost_usd for e in estimates]])
    benchmark = select_batch(np.array([quality]), costs, 0.0)[0]
    assert chosen.target == "cheap" == pool[benchmark].name
    assert chosen.fallbacks == ("pricey", "weak")
