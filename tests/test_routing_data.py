"""Routing sets: loading, validation errors that name the file and line, k-fold splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from routing_samples import routing_rows, write_routing_file

from edge_moma.errors import DataError
from edge_moma.training.routing_data import kfold_indices, load_routing_set


def test_load_reads_pool_scores_and_costs(tmp_path: Path) -> None:
    rows = routing_rows(10)
    data = load_routing_set(write_routing_file(tmp_path / "r.jsonl", rows))
    assert data.models == ("big", "small")
    assert data.scores.shape == data.costs.shape == (10, 2)
    assert data.scores[3, 1] == rows[3]["scores"]["small"]
    assert data.costs[0, 0] == rows[0]["costs"]["big"]
    assert data.has_tasks and data.tasks[0] == "code"
    assert len(data.sha256) == 64
    sub = data.subset(np.array([2, 5]))
    assert sub.ids == ("q2", "q5") and sub.scores.shape == (2, 2)


def test_task_is_optional(tmp_path: Path) -> None:
    rows = routing_rows(4)
    for r in rows:
        del r["task"]
    data = load_routing_set(write_routing_file(tmp_path / "r.jsonl", rows))
    assert not data.has_tasks


def _bad(tmp_path: Path, mutate, line: int = 2) -> DataError:
    rows = routing_rows(3)
    text = [json.dumps(r) for r in rows]
    text[line - 1] = mutate(rows[line - 1])
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_routing_set(path)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert f"bad.jsonl:{line}:" in str(info.value)
    return info.value


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    err = _bad(tmp_path, lambda r: json.dumps(r)[:-5])
    assert "not valid JSON" in str(err)


def test_missing_key(tmp_path: Path) -> None:
    err = _bad(tmp_path, lambda r: json.dumps({k: v for k, v in r.items() if k != "costs"}))
    assert "'costs'" in str(err)


def test_score_out_of_range(tmp_path: Path) -> None:
    err = _bad(tmp_path, lambda r: json.dumps({**r, "scores": {"small": 1.5, "big": 0.0}}))
    assert "expected 0..1" in str(err)


def test_score_not_a_number(tmp_path: Path) -> None:
    err = _bad(tmp_path, lambda r: json.dumps({**r, "scores": {"small": "yes", "big": 0.0}}))
    assert "must be a number" in str(err)


def test_different_pool_on_a_line(tmp_path: Path) -> None:
    err = _bad(tmp_path, lambda r: json.dumps({**r, "scores": {"small": 1.0, "huge": 0.0}}), 3)
    assert "same pool" in str(err)


def test_negative_cost_and_missing_cost(tmp_path: Path) -> None:
    err = _bad(tmp_path, lambda r: json.dumps({**r, "costs": {"small": -1.0, "big": 0.1}}))
    assert "expected >= 0" in str(err)
    err = _bad(tmp_path, lambda r: json.dumps({**r, "costs": {"small": 0.1}}))
    assert "lacks models ['big']" in str(err)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no prompts"):
        load_routing_set(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match="cannot read"):
        load_routing_set(tmp_path / "nope.jsonl")


def test_kfold_tests_every_row_once_and_is_seeded() -> None:
    folds = kfold_indices(23, 5, seed=3)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(23))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == 23
    again = kfold_indices(23, 5, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))
    assert any((a[1] != b[1]).any() for a, b in zip(folds, kfold_indices(23, 5, 4), strict=True))
    with pytest.raises(DataError):
        kfold_indices(3, 5)
