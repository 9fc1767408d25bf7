"""Routing benchmark: metrics against hand-computed cases and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from routing_samples import routing_rows, write_routing_file

from edge_moma.cli import main
from edge_moma.training import routing_metrics as rm
from edge_moma.training.routing_data import load_routing_set
from edge_moma.training.routing_eval import curve_metrics, sweep

# --- metrics on hand-computed cases ------------------------------------------------------


def test_upper_hull_drops_dominated_and_concave_points() -> None:
    # (2, 0.55) lies below the chord (1, .5)-(3, .9); (4, 0.8) costs more and is worse.
    xs, ys = rm.upper_hull(np.array([3.0, 1.0, 2.0, 4.0]), np.array([0.9, 0.5, 0.55, 0.8]))
    assert xs.tolist() == [1.0, 3.0] and ys.tolist() == [0.5, 0.9]


def test_aiq_of_a_known_hull() -> None:
    c, q = np.array([1.0, 3.0]), np.array([0.5, 0.9])
    # Over [1, 3]: trapezoid (0.5 + 0.9) / 2 * 2 = 1.4, / 2 = 0.7.
    assert rm.aiq(c, q, 1.0, 3.0) == pytest.approx(0.7)
    # Over [0, 4]: 0 below cost 1, 1.4 on [1, 3], flat 0.9 on [3, 4]: 2.3 / 4.
    assert rm.aiq(c, q, 0.0, 4.0) == pytest.approx(0.575)
    with pytest.raises(ValueError):
        rm.aiq(c, q, 2.0, 2.0)


def test_cost_to_reach_and_quality_within() -> None:
    c, q = np.array([1.0, 3.0]), np.array([0.5, 0.9])
    assert rm.cost_to_reach(c, q, 0.7) == pytest.approx(2.0)
    assert rm.cost_to_reach(c, q, 0.4) == pytest.approx(1.0)
    assert rm.cost_to_reach(c, q, 0.95) is None
    assert rm.quality_within(c, q, 1.5) == pytest.approx(0.6)
    assert rm.quality_within(c, q, 10.0) == pytest.approx(0.9)
    assert rm.quality_within(c, q, 0.5) is None


def test_apgr_and_cpt_on_a_toy_two_model_curve() -> None:
    # PGR points (0, 0), (0.5, 0.6), (1, 1): area 0.5 * 0.3 + 0.5 * 0.8 = 0.55.
    shares, quals = np.array([0.5]), np.array([0.8])
    assert rm.apgr(shares, quals, 0.5, 1.0) == pytest.approx(0.55)
    assert rm.cpt(shares, quals, 0.5, 1.0, 0.5) == pytest.approx(0.5 / 0.6 * 0.5)
    # PGR 0.8 lies between (0.5, 0.6) and (1, 1): 0.5 + 0.2 / 0.4 * 0.5.
    assert rm.cpt(shares, quals, 0.5, 1.0, 0.8) == pytest.approx(0.75)
    # The random router (a straight line) recovers half the gap on average.
    assert rm.apgr(np.array([0.25, 0.75]), np.array([0.625, 0.875]), 0.5, 1.0) == pytest.approx(0.5)


def test_curve_metrics_of_a_perfect_two_model_router(tmp_path: Path) -> None:
    data = load_routing_set(write_routing_file(tmp_path / "r.jsonl"))
    points = sweep(data.scores, data.costs, data.scores, data.costs)  # the oracle
    m = curve_metrics(points, data)
    big = data.models.index("big")
    mean_q, mean_c = data.scores.mean(0), data.costs.mean(0)
    # The oracle reaches the big model's quality while paying for big only where needed.
    assert m["cost_fraction_at_best_single_quality"] < 0.75
    assert m["quality_at_25pct_cost"] > mean_q[1 - big]
    assert 0.5 < m["apgr"] <= 1.5 and m["cpt50"] < 0.5 and m["cpt80"] < 0.8
    assert m["aiq"] > rm.aiq(mean_c, mean_q, mean_c.min(), mean_c.max())


# --- the CLI, end to end -------------------------------------------------------------

REPORT_KEYS = {
    "n",
    "models",
    "aiq",
    "cost_fraction_at_best_single_quality",
    "quality_at_25pct_cost",
    "apgr",
    "cpt50",
    "cpt80",
    "curve",
    "baselines",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("routing")
    data = write_routing_file(tmp / "train.jsonl", routing_rows(80, seed=0))
    result = CliRunner().invoke(
        main,
        ["train", "routing", "--data", str(data), "--out", str(tmp / "bundle")],
    )
    assert result.exit_code == 0, result.output
    return data, tmp / "bundle"


def test_train_then_eval_routing_writes_report_and_plot(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    train, bundle = trained
    test = write_routing_file(tmp_path / "test.jsonl", routing_rows(60, seed=1))
    report_path, plot_path = tmp_path / "report.json", tmp_path / "curves.png"
    result = CliRunner().invoke(
        main,
        ["eval", "routing", "--data", str(test), "--model", str(bundle), "--train", str(train),
         "--report", str(report_path), "--plot", str(plot_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert set(report) >= REPORT_KEYS
    assert report["n"] == 60 and report["models"] == ["big", "small"]
    assert set(report["baselines"]) == {
        "single_hull", "random", "oracle", "knn", "logreg", "task_lookup"
    }  # fmt: skip
    for b in report["baselines"].values():
        assert {k for k in REPORT_KEYS if k not in ("n", "models", "curve", "baselines")} <= set(b)
    # A two-model pool has RouteLLM's figures; the router learned to keep chat on `small`.
    assert report["apgr"] is not None and report["cpt50"] is not None
    assert report["aiq"] > report["baselines"]["single_hull"]["aiq"]
    assert report["baselines"]["oracle"]["aiq"] >= report["aiq"]
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(result.stdout)["figures"]["router"]["aiq"] == report["aiq"]


def test_eval_routing_cross_validates_on_the_file(tmp_path: Path) -> None:
    data = write_routing_file(tmp_path / "r.jsonl", routing_rows(40, seed=2))
    out = tmp_path / "cv.json"
    result = CliRunner().invoke(
        main, ["eval", "routing", "--data", str(data), "--cv", "2", "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["setup"]["folds"] == 2 and report["n"] == 40
    assert report["cost_range"][0] < report["cost_range"][1]


def test_eval_routing_rejects_a_bad_file(tmp_path: Path, trained: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hi", "scores": {"a": 2}, "costs": {"a": 0.1}}\n', encoding="utf-8")
    result = CliRunner().invoke(
        main, ["eval", "routing", "--data", str(bad), "--model", str(trained[1])]
    )
    assert result.exit_code == 2
    assert "bad.jsonl:1:" in result.output and "expected 0..1" in result.output
