"""Intent bundles end to end: train a small file, load, understand, evaluate, refuse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_moma.cli import main
from edge_moma.errors import BundleError, DataError
from edge_moma.routing.bundle import read_card, write_card
from edge_moma.routing.features import Featurizer
from edge_moma.routing.intent import OOS, IntentRouter, read_intent_file
from edge_moma.training.intent import (
    Calibration,
    Distillation,
    bundle_probabilities,
    choose_oos_weight,
    choose_threshold,
    evaluate_intent,
    intent_metrics,
    train_intent,
    weigh_oos,
)
from edge_moma.training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "intent"
SMALL = TrainConfig(dim=16, hidden=(32,), epochs=12, batch_size=16, seed=0)
FEATURIZER = Featurizer(n_buckets=1 << 12)

# A user's own intents: labels CLINC150 never had, plus out-of-scope rows and tasks.
CUSTOM = {
    "lights_on": ["turn on the {} lights", "switch the {} light on", "lights on in the {}"],
    "lights_off": ["turn off the {} lights", "switch the {} light off", "kill the {} lights"],
    "thermostat": ["set the {} heating to 21", "make the {} warmer", "heat up the {}"],
    OOS: ["who wrote the {} novel", "what is a {} in physics", "tell me a {} joke"],
}
PLACES = ["kitchen", "bedroom", "garage", "hall", "office", "attic", "porch", "bathroom"]


def _write(path: Path, places: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for label, patterns in CUSTOM.items():
            for pattern in patterns:
                for place in places:
                    task = "chat" if label != OOS else "knowledge"
                    row = {"text": pattern.format(place), "label": label, "task": task}
                    fh.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("intent")
    train = _write(root / "train.jsonl", PLACES[:6])
    test = _write(root / "test.jsonl", PLACES[6:])
    train_intent(train, root / "bundle", config=SMALL, featurizer=FEATURIZER)
    return root / "bundle", test


def test_training_writes_a_complete_bundle(trained: tuple[Path, Path]) -> None:
    bundle, _ = trained
    card = read_card(bundle)
    assert set(card["files"]) == {"intent.onnx", "intent.int8.onnx"}
    assert card["labels"] == ["lights_off", "lights_on", OOS, "thermostat"]
    assert card["tasks"] == ["chat", "knowledge"]
    assert card["featurizer"] == FEATURIZER.params()
    assert card["seed"] == 0 and card["data"][0]["rows"] == 4 * 3 * 6
    assert len(card["data"][0]["sha256"]) == 64
    assert card["metrics"]["val"]["n"] > 0
    assert 0.0 <= card["decision"]["threshold"] < 1.0 and card["decision"]["temperature"] > 0


def test_router_understands_custom_intents(trained: tuple[Path, Path]) -> None:
    bundle, _ = trained
    router = IntentRouter.load(bundle)
    u = router.understand("please turn on the garden lights")
    assert u.top_intent is not None and u.top_intent.label == "lights_on"
    assert not u.out_of_scope and u.task == "chat" and u.router_version == router.version
    assert [s.confidence for s in u.intents] == sorted(
        (s.confidence for s in u.intents), reverse=True
    )
    same = router.understand_indices(router.featurizer.indices("please turn on the garden lights"))
    assert same == u
    for odd in ["", "😀" * 50_000, "日本語 テキスト", " \n\t"]:
        odd_u = router.understand(odd)
        assert 0.0 <= odd_u.task_confidence <= 1.0 and len(odd_u.intents) == 3


def test_evaluation_report(trained: tuple[Path, Path]) -> None:
    bundle, test = trained
    report = evaluate_intent(test, bundle, warmup=5)
    for key in ("n", "accuracy", "in_scope_accuracy", "oos_recall", "oos_precision", "macro_f1"):
        assert key in report
    assert report["n"] == 4 * 3 * 2
    assert report["in_scope_accuracy"] >= 0.8
    assert report["latency_us"]["p50"] <= report["latency_us"]["p99"]
    assert report["int8_vs_fp32"]["source"] == "measured"
    assert report["task"]["n"] == report["n"]


def test_cli_train_and_eval(tmp_path: Path, trained: tuple[Path, Path]) -> None:
    bundle, test = trained
    train = _write(tmp_path / "train.jsonl", PLACES[:6])
    runner = CliRunner()
    out = tmp_path / "cli-bundle"
    result = runner.invoke(
        main, ["train", "intent", "--data", str(train), "--out", str(out), "--epochs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "epoch 2/2" in result.output and (out / "card.json").is_file()
    report_path = tmp_path / "report.json"
    result = runner.invoke(
        main,
        [
            "eval",
            "intent",
            "--data",
            str(test),
            "--model",
            str(bundle),
            "--report",
            str(report_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(report_path.read_text())["n"] == 24
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "label": "a"}\n{"text": "no label"}\n', encoding="utf-8")
    result = runner.invoke(main, ["eval", "intent", "--data", str(bad), "--model", str(bundle)])
    assert result.exit_code == 2 and "bad.jsonl:2" in result.output and '"label"' in result.output


def test_bad_data_files_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n\n{"text": "b", "label": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d.jsonl:3: not valid JSON"):
        read_intent_file(path)
    path.write_text('{"text": 3, "label": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d.jsonl:1: missing string field \"text\""):
        read_intent_file(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        read_intent_file(path)
    with pytest.raises(DataError, match="cannot read"):
        read_intent_file(tmp_path / "absent.jsonl")


def _copy(bundle: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in bundle.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_featurizer_version_mismatch_is_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = _copy(trained[0], tmp_path / "b")
    card = read_card(bundle)
    card["featurizer"]["version"] = 1
    write_card(bundle, {k: v for k, v in card.items() if k not in ("files", "schema")})
    with pytest.raises(BundleError, match="built for featurizer version 1"):
        IntentRouter.load(bundle)


def test_corrupt_model_file_is_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = _copy(trained[0], tmp_path / "b")
    model = bundle / "intent.int8.onnx"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with pytest.raises(BundleError, match=r"intent.int8.onnx: sha256 .* corrupt"):
        IntentRouter.load(bundle)
    # Even with a card that matches the damaged file, ONNX Runtime's error becomes ours.
    card = read_card(bundle)
    write_card(bundle, {k: v for k, v in card.items() if k not in ("files", "schema")})
    with pytest.raises(BundleError, match="ONNX Runtime cannot load"):
        IntentRouter.load(bundle)


def test_metrics_and_threshold_rule() -> None:
    m = intent_metrics(["a", "b", OOS, OOS], ["a", OOS, OOS, "b"])
    assert m["accuracy"] == 0.5 and m["in_scope_accuracy"] == 0.5
    assert m["oos_recall"] == 0.5 and m["oos_precision"] == 0.5
    probs = np.array([[0.9, 0.1, 0.0], [0.55, 0.45, 0.0], [0.5, 0.5, 0.0], [0.4, 0.3, 0.3]])
    y = np.array([0, 0, 2, 2])  # class 2 is oos
    th = choose_threshold(probs, y, 2, min_oos_recall=1.0)
    assert 0.5 < th <= 0.55  # rejects both oos rows and keeps the confident in-scope one
    assert choose_threshold(probs, np.array([0, 0, 1, 1]), 2, 0.6) == 0.0  # no oos rows in val


def test_oos_weight_rule() -> None:
    # two in-scope rows the oos class wins narrowly, one oos row it wins clearly
    probs = np.array([[0.45, 0.0, 0.55], [0.4, 0.1, 0.5], [0.2, 0.0, 0.8], [0.9, 0.0, 0.1]])
    y = np.array([0, 0, 2, 0])
    # the largest weight that wins both back and keeps the oos row out of scope
    assert choose_oos_weight(probs, y, 2, 1.0, 0.0) == 0.8
    assert choose_oos_weight(probs, y, 2, 1.0, 0.5) == 1.0  # the threshold rejects them anyway
    assert choose_oos_weight(probs, np.array([0, 0, 1, 0]), 2, 1.0, 0.0) == 1.0  # no oos rows


def test_weighing_oos_changes_the_models_and_the_card(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = tmp_path / "weighed"
    shutil.copytree(trained[0], bundle)
    texts = [r.text for r in read_intent_file(trained[1])]
    before = bundle_probabilities(bundle, texts)
    card = weigh_oos(bundle, 0.5, "a test", 0.7)
    after = bundle_probabilities(bundle, texts)
    oos = card["labels"].index(OOS)
    mid = (before[:, oos] > 0.01) & (before[:, oos] < 0.99)  # float32 odds stay exact there
    odds = (after[:, oos] / (1 - after[:, oos])) / (before[:, oos] / (1 - before[:, oos]))
    assert mid.any() and np.allclose(odds[mid], 0.5, rtol=1e-2)  # the oos odds halve
    assert card["decision"]["oos_weight"] == 0.5 and card["decision"]["min_oos_recall"] == 0.7
    assert card["version"] != read_card(trained[0])["version"]
    IntentRouter.load(bundle)  # the card's sha256 match the changed files


@pytest.mark.skipif(not (SHIPPED / "card.json").is_file(), reason="shipped bundle not built")
def test_shipped_bundle() -> None:
    router = IntentRouter.load(SHIPPED)
    assert len(router.labels) == 151 and OOS in router.labels
    assert router.tasks == ["chat", "code", "commonsense", "knowledge", "math", "writing"]
    u = router.understand("set an alarm for 7 am tomorrow")
    assert u.top_intent is not None and u.top_intent.label == "alarm" and not u.out_of_scope
    assert u.task == "chat"
    math = router.understand(
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?"
    )
    assert math.out_of_scope and math.task == "math"
    code = router.understand('def add(a: int, b: int) -> int:\n    """Return the sum."""\n')
    assert code.task == "code"


def test_int8_only_bundle_quotes_the_card(trained: tuple[Path, Path], tmp_path: Path) -> None:
    bundle = _copy(trained[0], tmp_path / "b")
    (bundle / "intent.onnx").unlink()
    card = read_card(bundle)
    card["models"] = {"int8": "intent.int8.onnx"}
    card["metrics"]["test"] = {"int8_vs_fp32": {"difference_points": 0.1}}
    write_card(bundle, {k: v for k, v in card.items() if k not in ("files", "schema")})
    report = evaluate_intent(trained[1], bundle, latency=False)
    assert report["int8_vs_fp32"] == {
        "difference_points": 0.1,
        "source": "model card (no fp32 model in this bundle)",
    }
    with pytest.raises(BundleError, match="no 'fp32' model"):
        IntentRouter.load(bundle, precision="fp32")


def test_distilled_training_with_a_given_rule(tmp_path: Path) -> None:
    """A teacher's extra rows teach a phrasing the file lacks; its head is not exported."""
    train = _write(tmp_path / "train.jsonl", PLACES[:6])
    rows = read_intent_file(train)
    labels = sorted({r.label for r in rows})
    texts = tuple(f"it is freezing in the {p}" for p in PLACES)
    soft = np.zeros((len(texts), len(labels)), dtype=np.float32)
    soft[:, labels.index("lights_off")] = 1.0  # the file alone says thermostat
    rng = np.random.default_rng(0)
    distillation = Distillation(
        texts=texts,
        tasks=("chat",) * len(texts),
        soft_labels=soft,
        teacher_targets=rng.standard_normal((len(rows) + len(texts), 8)).astype(np.float32),
        about={"teacher": "a test"},
    )
    rule = Calibration(temperature=1.0, threshold=0.05, source="a test")
    card = train_intent(
        train,
        tmp_path / "b",
        config=SMALL,
        featurizer=FEATURIZER,
        distillation=distillation,
        calibration=rule,
    )
    assert card["distillation"] == {"rows": len(texts), "teacher": "a test"}
    assert card["decision"]["threshold"] == 0.05 and card["decision"]["chosen_by"] == "a test"
    assert card["data"][0]["rows"] == len(rows) and "val" not in card["metrics"]
    router = IntentRouter.load(tmp_path / "b")
    assert router.threshold == 0.05
    exported = onnxruntime.InferenceSession(str(tmp_path / "b" / "intent.int8.onnx"))
    assert "teacher" not in {o.name for o in exported.get_outputs()}
    u = router.understand("it is freezing in the garden")
    assert u.top_intent is not None and u.top_intent.label == "lights_off"
    chat = ("chat",) * len(texts)
    misaligned = {
        "soft labels of shape": Distillation(texts, chat, soft[:, :2]),
        "teacher targets of shape": Distillation(texts, chat, soft, np.zeros((len(texts), 8))),
        "7 tasks for 8 texts": Distillation(texts, chat[1:], soft),
    }
    for message, bad in misaligned.items():
        with pytest.raises(DataError, match=message):
            train_intent(
                train,
                tmp_path / "bad",
                config=SMALL,
                featurizer=FEATURIZER,
                distillation=bad,
                calibration=rule,
            )


@pytest.fixture(scope="module")
def shipped_router() -> IntentRouter:
    if not (SHIPPED / "card.json").is_file():
        pytest.skip("shipped bundle not built")
    return IntentRouter.load(SHIPPED)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(max_size=80), min_size=2, max_size=4))
def test_the_one_row_path_reads_as_a_batch_does(
    shipped_router: IntentRouter, texts: list[str]
) -> None:
    """The one-row path (every routed request) and a batch read each text alike."""
    router = shipped_router
    rows = [router.featurizer.indices(t) for t in texts]
    alone = [router.understand_indices(r) for r in rows]
    together = router.understand_many(rows)
    for a, b in zip(alone, together, strict=True):
        assert [s.label for s in a.intents] == [s.label for s in b.intents]
        assert [s.confidence for s in a.intents] == pytest.approx(
            [s.confidence for s in b.intents], abs=1e-5
        )
        assert (a.out_of_scope, a.task) == (b.out_of_scope, b.task)
