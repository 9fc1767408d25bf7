"""A small real intent bundle (trained once per session) and versions derived from it."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from edge_moma.routing.bundle import read_card, write_card
from edge_moma.routing.intent import IntentExample, write_intent_file
from edge_moma.training.intent import DEFAULT_CONFIG, train_intent

DATA = Path(__file__).resolve().parents[1] / "scripts" / "data" / "clinc150" / "data_full.json"
LABELS = ("balance", "translate", "weather", "timer", "calculator", "oos")


def train_tiny_intent(out: Path, work: Path) -> Path:
    clinc = json.loads(DATA.read_text(encoding="utf-8"))
    rows = [
        IntentExample(t, label, "chat")
        for t, label in clinc["train"] + clinc["oos_train"]
        if label in LABELS
    ]
    data = write_intent_file(work / "tiny_intent.jsonl", rows)
    train_intent(data, out, config=replace(DEFAULT_CONFIG, epochs=2, seed=0))
    return out


def derive(src: Path, dst: Path, **changes: object) -> Path:
    """A copy of bundle ``src`` whose card differs by ``changes`` (checksums rewritten)."""
    shutil.copytree(src, dst)
    card = read_card(dst)
    (dst / "card.json").unlink()
    card.pop("files")
    card.pop("schema")
    card.update(changes)
    write_card(dst, card)
    return dst


def write_old_export(path: Path) -> Path:
    """A one-query-only ONNX model (input ``indices`` [n]), as exported before batches."""
    from onnx import TensorProto, helper, save

    ids = helper.make_tensor_value_info("indices", TensorProto.INT64, ["n"])
    out = helper.make_tensor_value_info("out", TensorProto.INT64, ["n"])
    node = helper.make_node("Identity", ["indices"], ["out"])
    model = helper.make_model(
        helper.make_graph([node], "old", [ids], [out]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    save(model, str(path))
    return path


def as_old_export(bundle: Path) -> Path:
    """Make ``bundle``'s model one-query-only, as edge-moma exported it before batches."""
    card = read_card(bundle)
    write_old_export(bundle / card["models"]["int8"])
    (bundle / "card.json").unlink()
    card.pop("files")
    card.pop("schema")
    write_card(bundle, card)
    return bundle
