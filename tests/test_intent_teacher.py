"""The current intent bundle teaches its successor: warm start, soft targets, its rule."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from click.testing import CliRunner
from rollout_samples import DATA, LABELS

from edge_moma.cli import main
from edge_moma.errors import DataError
from edge_moma.routing.bundle import read_card, sha256_file
from edge_moma.routing.features import bag_feed
from edge_moma.routing.intent import IntentExample, IntentRouter, write_intent_file
from edge_moma.training.intent import (
    DEFAULT_CONFIG,
    OOS_WEIGHTS,
    bundle_probabilities,
    evaluate_rows,
    train_intent,
    weigh_oos,
)
from edge_moma.training.intent_teacher import BundleTeacher, noisy_copies
from edge_moma.training.trainer import EmbeddingBagModel

ONE_EPOCH = replace(DEFAULT_CONFIG, epochs=1)


def _clinc(split: str) -> list[IntentExample]:
    clinc = json.loads(DATA.read_text(encoding="utf-8"))
    return [
        IntentExample(t, label, "chat")
        for t, label in clinc[split] + clinc[f"oos_{split}"]
        if label in LABELS
    ]


def test_weights_read_back_from_onnx(tiny_intent: Path) -> None:
    router = IntentRouter.load(tiny_intent)
    texts = ["what's the weather in lisbon", "set a timer for 5 minutes", "how do magnets work"]
    feed = bag_feed([router.featurizer.indices(t) for t in texts], "mean")
    for name in ("intent.onnx", "intent.int8.onnx"):
        model = EmbeddingBagModel.from_onnx(tiny_intent / name)
        assert [h.name for h in model.heads] == ["intent", "task"] and model.pooling == "mean"
        assert model.head("intent").top_k == 4
        session = onnxruntime.InferenceSession(str(tiny_intent / name))
        want = session.run(["intent"], feed)[0]
        got = model.predict(*router.featurizer.batch(texts))["intent"]
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_retrain_learns_from_the_bundle(tiny_intent: Path, tmp_path: Path) -> None:
    rows = _clinc("val")  # rows the teacher never saw, with the same labels
    data = write_intent_file(tmp_path / "more.jsonl", rows)
    card = train_intent(data, tmp_path / "student", config=ONE_EPOCH, teacher=tiny_intent)
    teacher_card = read_card(tiny_intent)
    assert card["decision"]["chosen_by"].startswith(
        f"matched to the teacher bundle {teacher_card['version']}"
    )
    assert 0.05 < card["decision"]["temperature"] < 10
    assert card["distillation"]["rows"] == 2 * len(rows)  # two noisy copies a row
    assert teacher_card["version"] in card["distillation"]["teacher"]
    assert "val" not in card["metrics"] and card["data"][0]["rows"] == len(rows)  # all rows train
    test = _clinc("test")
    student = evaluate_rows(test, tmp_path / "student", latency=False)
    teacher = evaluate_rows(test, tiny_intent, latency=False)
    # One epoch from the teacher's weights keeps what it knew: no cold start.
    assert student["accuracy"] >= teacher["accuracy"] - 0.02
    cold = train_intent(data, tmp_path / "cold", config=ONE_EPOCH)
    assert student["accuracy"] > evaluate_rows(test, tmp_path / "cold", latency=False)["accuracy"]
    assert cold["decision"].get("chosen_by") is None


def test_a_student_like_its_teacher_gets_the_teachers_rule(tiny_intent: Path) -> None:
    teacher = BundleTeacher.load(tiny_intent)
    texts = [r.text for r in _clinc("test")]
    raw = teacher.model.logits(*teacher.featurizer.batch(texts))["intent"]
    rule = teacher.calibration(raw, texts)  # the teacher's own logits as the student's
    assert rule.temperature == pytest.approx(teacher.temperature, rel=0.05)
    probs = teacher.probabilities(texts)
    same = teacher.calibration(raw * 2.0, texts)  # a sharper student: a higher temperature
    assert same.temperature == pytest.approx(2 * teacher.temperature, rel=0.05)
    oos = teacher.labels.index("oos")
    scores = np.delete(probs, oos, axis=1).max(axis=1)
    rate = np.mean((probs.argmax(axis=1) == oos) | (scores < teacher.threshold))
    got = np.mean((probs.argmax(axis=1) == oos) | (scores < rule.threshold))
    assert abs(got - rate) < 0.01  # the same share of texts out of scope


def test_a_teacher_with_other_labels_is_refused(tiny_intent: Path, tmp_path: Path) -> None:
    rows = [r for r in _clinc("val") if r.label != "timer"]
    data = write_intent_file(tmp_path / "fewer.jsonl", rows)
    with pytest.raises(DataError, match=r"other intent labels .*only in the bundle: \['timer'\]"):
        train_intent(data, tmp_path / "x", config=ONE_EPOCH, teacher=tiny_intent)
    result = CliRunner().invoke(
        main,
        ["train", "intent", "--data", str(data), "--out", str(tmp_path / "y")]
        + ["--teacher", str(tiny_intent)],
    )
    assert result.exit_code == 2 and "only in the bundle: ['timer']" in result.output
    teacher = BundleTeacher.load(tiny_intent)
    assert teacher.start(teacher.labels, ["chat", "math"]).heads[-1].name == "intent"  # no task


def test_noisy_copies_are_seeded_and_keep_words() -> None:
    texts = ["what is the weather like in lisbon tomorrow", "set a timer"]
    a = noisy_copies(texts, seed=1)
    assert a == noisy_copies(texts, seed=1) and len(a) == 4
    for copy, source in zip(a, [t for t in texts for _ in range(2)], strict=True):
        assert set(copy.split()) <= set(source.split())
    swapped = noisy_copies(["rain"], seed=0, neighbours={"rain": ["snow"]}, p_drop=0, p_swap=1)
    assert swapped == ["snow", "snow"]


def test_the_teachers_oos_weight_carries_to_the_student(tiny_intent: Path, tmp_path: Path) -> None:
    weighted = tmp_path / "weighted"
    shutil.copytree(tiny_intent, weighted)
    weigh_oos(weighted, 0.3, "a test", 0.6)
    teacher = BundleTeacher.load(weighted)
    texts = [r.text for r in _clinc("test")]
    # It teaches with the model its weight was chosen for, and passes the weight on.
    unweighted = BundleTeacher.load(tiny_intent).probabilities(texts)
    np.testing.assert_allclose(teacher.probabilities(texts), unweighted, atol=1e-4)
    raw = teacher.model.logits(*teacher.featurizer.batch(texts))["intent"]
    assert teacher.calibration(raw, texts).oos_weight == 0.3
    assert BundleTeacher.load(tiny_intent).calibration(raw, texts).oos_weight == 1.0

    data = write_intent_file(tmp_path / "more.jsonl", _clinc("val"))
    card = train_intent(data, tmp_path / "student", config=ONE_EPOCH, teacher=weighted)
    assert card["decision"]["oos_weight"] == 0.3
    int8 = tmp_path / "student" / "intent.int8.onnx"
    assert card["version"] == f"intent-{sha256_file(int8)[:12]}"  # the weighted model's
    oos = teacher.oos_index

    def rate(probs: np.ndarray, threshold: float = card["decision"]["threshold"]) -> float:
        in_scope = np.delete(probs, oos, axis=1).max(axis=1)
        return float(np.mean((probs[:, oos] > in_scope) | (in_scope < threshold)))

    shipped = rate(bundle_probabilities(weighted, texts), teacher.threshold)
    student = bundle_probabilities(tmp_path / "student", texts)
    before = student.copy()
    before[:, oos] /= 0.3  # the student as trained, before the weight
    # The weight moves the student's out-of-scope rate to the weighted teacher's.
    assert abs(rate(student) - shipped) < abs(rate(before) - shipped)


def test_with_a_validation_file_the_student_chooses_its_oos_weight_there(
    tiny_intent: Path, tmp_path: Path
) -> None:
    weighted = tmp_path / "weighted"
    shutil.copytree(tiny_intent, weighted)
    weigh_oos(weighted, 0.3, "a test", 0.6)
    data = write_intent_file(tmp_path / "more.jsonl", _clinc("val"))
    val = write_intent_file(tmp_path / "check.jsonl", _clinc("test"))
    # No oos recall floor: the lowest weight that wins in-scope rows back from the oos class.
    card = train_intent(
        data, tmp_path / "s", val, config=ONE_EPOCH, teacher=weighted, min_oos_recall=0.0
    )
    rule = card["decision"]
    assert rule["oos_weight"] < 1.0 and rule["oos_weight"] in OOS_WEIGHTS
    assert rule["oos_weight_chosen_by"] == "chosen on the validation file check.jsonl"
    IntentRouter.load(tmp_path / "s")  # the card's sha256 match the weighted files


def test_a_carried_oos_weight_names_its_teacher_and_first_source_however_often_carried() -> None:
    from edge_moma.training.intent_teacher import _carried

    once = _carried("intent-a", "the twin intent-t on val.jsonl")
    twice = _carried("intent-b", once)
    assert twice == (
        "carried from the teacher bundle intent-b; first chosen: the twin intent-t on val.jsonl"
    )
    assert _carried("intent-c", twice).replace("intent-c", "intent-b") == twice
