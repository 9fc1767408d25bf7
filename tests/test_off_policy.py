"""Off-policy estimators and the task table on synthetic data whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_moma.training.off_policy import bootstrap_interval, doubly_robust, ips, snips
from edge_moma.training.task_table import pessimistic, task_table

# Two kinds of query, three models; MEANS[kind, model] is the chance of a good answer.
MEANS = np.array([[0.9, 0.6, 0.2], [0.1, 0.5, 0.8]])


def logged_bandit(n: int, seed: int) -> dict[str, np.ndarray]:
    """A logging policy that mostly picks model 0 on kind 0 and model 1 on kind 1."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, n)
    probs = np.where(kind[:, None] == 0, [0.7, 0.2, 0.1], [0.1, 0.6, 0.3])
    logged = (probs.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    reward = (rng.random(n) < MEANS[kind, logged]).astype(float)
    return {
        "kind": kind,
        "logged": logged,
        "propensity": probs[np.arange(n), logged],
        "reward": reward,
    }


def true_value(choice_by_kind: list[int]) -> float:
    return float(np.mean([MEANS[k, choice_by_kind[k]] for k in (0, 1)]))


@pytest.mark.parametrize("policy", [[0, 2], [2, 0], [1, 1], [0, 1]])
def test_ips_snips_and_dr_recover_a_target_policys_value(policy: list[int]) -> None:
    b = logged_bandit(40_000, seed=1)
    choice = np.array(policy)[b["kind"]]
    truth = true_value(policy)
    assert ips(choice, b["logged"], b["propensity"], b["reward"]).mean() == pytest.approx(
        truth, abs=0.02
    )
    assert snips(choice, b["logged"], b["propensity"], b["reward"]) == pytest.approx(
        truth, abs=0.02
    )
    # A wrong reward model (0.5 everywhere) is corrected by the weighted errors...
    wrong = np.full((len(choice), 3), 0.5)
    dr = doubly_robust(choice, b["logged"], b["propensity"], b["reward"], wrong)
    assert dr.mean() == pytest.approx(truth, abs=0.02)
    # ...and the right one needs no correction on average, with far less noise than IPS.
    right = MEANS[b["kind"]]
    exact = doubly_robust(choice, b["logged"], b["propensity"], b["reward"], right)
    assert exact.mean() == pytest.approx(truth, abs=0.01)
    assert exact.std() < ips(choice, b["logged"], b["propensity"], b["reward"]).std()


def test_the_logging_policys_naive_average_is_biased_and_ips_is_not() -> None:
    b = logged_bandit(40_000, seed=2)
    # Model 2 is chosen mostly on kind 1, where it is good: its naive mean flatters it.
    naive = b["reward"][b["logged"] == 2].mean()
    choice = np.full(len(b["kind"]), 2)
    assert naive > true_value([2, 2]) + 0.1  # 0.65 expected against 0.5
    assert ips(choice, b["logged"], b["propensity"], b["reward"]).mean() == pytest.approx(
        true_value([2, 2]), abs=0.02
    )


def test_clipped_dr_leans_toward_the_reward_model() -> None:
    b = logged_bandit(20_000, seed=3)
    choice = np.full(len(b["kind"]), 2)
    low = np.zeros((len(choice), 3))
    capped = doubly_robust(choice, b["logged"], b["propensity"], b["reward"], low, max_weight=2)
    full = doubly_robust(choice, b["logged"], b["propensity"], b["reward"], low)
    assert capped.mean() < full.mean() and full.mean() == pytest.approx(true_value([2, 2]), 0.05)


@settings(max_examples=40)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=60), st.integers(0, 2**31 - 1))
def test_bootstrap_interval_brackets_the_mean(values: list[float], seed: int) -> None:
    low, high = bootstrap_interval(np.array(values), resamples=300, seed=seed)
    mean = float(np.mean(values))
    assert low <= high
    assert low - 1e-9 <= mean <= high + 1e-9 or len(set(values)) > 1  # percentile may skew
    assert min(values) - 1e-9 <= low and high <= max(values) + 1e-9


def test_bootstrap_interval_is_narrow_for_constant_and_wide_for_noisy_values() -> None:
    assert bootstrap_interval(np.full(50, 0.3)) == pytest.approx((0.3, 0.3))
    rng = np.random.default_rng(0)
    low, high = bootstrap_interval(rng.normal(1.0, 1.0, 400), level=0.95)
    assert low < 1.0 < high and 0.1 < high - low < 0.3  # about 2 x 1.96 / sqrt(400)


def test_task_table_corrects_a_policy_that_chose_a_model_on_easy_queries() -> None:
    # One task, two kinds of query in equal shares; model 0 answers easy ones (0.9) and
    # fails hard ones (0.1): its task mean is 0.5. The logging policy chose it 90% of
    # the time on easy queries and 10% on hard ones.
    rng = np.random.default_rng(4)
    n = 20_000
    easy = rng.random(n) < 0.5
    p0 = np.where(easy, 0.9, 0.1)
    chose0 = rng.random(n) < p0
    scores = np.full((n, 2), np.nan)
    weights = np.ones((n, 2))
    good0 = rng.random(n) < np.where(easy, 0.9, 0.1)
    scores[chose0, 0] = good0[chose0]
    weights[chose0, 0] = 1 / p0[chose0]
    scores[~chose0, 1] = 0.6
    weights[~chose0, 1] = 1 / (1 - p0[~chose0])
    labels = np.zeros(n, dtype=int)
    naive, _ = task_table(labels, scores, np.ones((n, 2)), n_tasks=1, shrink=0.0)
    weighted, n_eff = task_table(labels, scores, weights, n_tasks=1, shrink=0.0)
    assert naive[0, 0] > 0.75  # the policy's choice flatters model 0
    assert weighted[0, 0] == pytest.approx(0.5, abs=0.03)
    assert weighted[0, 1] == pytest.approx(0.6)
    assert 0 < n_eff[0, 0] < chose0.sum()  # unequal weights: fewer effective outcomes


def test_task_table_shrinks_thin_cells_toward_the_main_effects() -> None:
    # Task 1 never saw model 1: it takes the main-effects fit, which ranks model 1
    # below model 0 there as on task 0 (model 1 is worse everywhere it was seen).
    labels = np.array([0] * 40 + [1] * 20)
    scores = np.full((60, 2), np.nan)
    scores[:20, 0], scores[20:40, 1], scores[40:, 0] = 1.0, 0.0, 0.5
    scores[20:30, 1] = 1.0  # model 1: half right on task 0
    table, n_eff = task_table(labels, scores, np.ones((60, 2)), n_tasks=2, shrink=5.0)
    assert n_eff[1, 1] == 0 and table[1, 1] < table[1, 0]
    assert table[0, 0] > table[0, 1]
    # With no shrinkage an observed cell is its own mean.
    raw, _ = task_table(labels, scores, np.ones((60, 2)), n_tasks=2, shrink=0.0)
    assert raw[0, 0] == 1.0 and raw[0, 1] == 0.5 and raw[1, 0] == 0.5


def test_pessimistic_table_lowers_thin_cells_by_their_standard_error() -> None:
    table = np.array([[0.5, 0.5, 0.9, 1.0]])
    n_eff = np.array([[0.0, 95.0, 1e6, 3.0]])
    low = pessimistic(table, n_eff, shrink=5.0, z=2.0)
    assert low[0, 0] == pytest.approx(0.5 - 2 * 0.5 / np.sqrt(5))  # nothing seen: 0.447 down
    assert low[0, 1] == pytest.approx(0.5 - 2 * 0.5 / np.sqrt(100))  # 0.1 down
    assert low[0, 2] == pytest.approx(0.9, abs=1e-3)  # a well-known cell barely moves
    assert low[0, 3] == pytest.approx(1.0 - 2 * 0.5 / np.sqrt(8))  # 3 of 3 is not certainty
    assert (pessimistic(table, n_eff, shrink=5.0, z=0.0) == table).all()


def test_pessimism_avoids_the_winners_curse_among_thin_models() -> None:
    # Model 0 (seen 400 times) is truly best (0.6); eight others are truly 0.5 and were
    # each seen 8 times (the table shrinks them as the trainer does). The highest
    # mean is usually a lucky thin model; the highest
    # pessimistic value is the model that was really seen being good.
    rng = np.random.default_rng(7)
    true = np.array([0.6] + [0.5] * 8)
    counts = np.array([400] + [8] * 8)
    greedy_right = pessimistic_right = 0
    for _ in range(200):
        labels = np.zeros(counts.sum(), dtype=int)
        scores = np.full((counts.sum(), 9), np.nan)
        at = 0
        for j, c in enumerate(counts):
            scores[at : at + c, j] = rng.random(c) < true[j]
            at += c
        table, n_eff = task_table(labels, scores, np.ones(scores.shape), n_tasks=1, shrink=5.0)
        greedy_right += int(table[0].argmax() == 0)
        pessimistic_right += int(pessimistic(table, n_eff, shrink=5.0, z=2.0)[0].argmax() == 0)
    assert greedy_right < 100 < 180 < pessimistic_right
