"""Model cards and bundle checks: every failure is a BundleError that names the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rollout_samples import write_old_export

from edge_moma.errors import BundleError
from edge_moma.routing.bundle import (
    bag_runner,
    load_session,
    read_card,
    runner,
    sha256_file,
    verify_bundle,
    write_card,
)
from edge_moma.routing.features import bag_feed
from edge_moma.training.onnx_export import Head, export_embedding_bag


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    emb = np.ones((64, 4), np.float32)
    head = Head("out", np.ones((4, 2), np.float32), np.zeros(2, np.float32), "linear")
    export_embedding_bag(tmp_path / "m.onnx", emb, [], [head], quantize=False)
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    write_card(tmp_path, {"kind": "test", "version": "t-1"})
    return tmp_path


def test_card_lists_sha256_of_every_file(bundle: Path) -> None:
    card = verify_bundle(bundle, kind="test")
    assert set(card["files"]) == {"m.onnx", "notes.txt"}
    assert card["files"]["notes.txt"] == sha256_file(bundle / "notes.txt")
    assert read_card(bundle)["version"] == "t-1"


def test_modified_file_is_refused(bundle: Path) -> None:
    (bundle / "notes.txt").write_text("tampered", encoding="utf-8")
    with pytest.raises(BundleError, match=r"notes.txt: sha256 .* does not match"):
        verify_bundle(bundle)


def test_missing_file_wrong_kind_and_bad_card(bundle: Path) -> None:
    with pytest.raises(BundleError, match="expected 'intent'"):
        verify_bundle(bundle, kind="intent")
    (bundle / "notes.txt").unlink()
    with pytest.raises(BundleError, match="notes.txt: listed in the model card but missing"):
        verify_bundle(bundle)
    (bundle / "card.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match="unreadable model card"):
        read_card(bundle)
    (bundle / "card.json").write_text(json.dumps({"schema": 99, "files": {}}), encoding="utf-8")
    with pytest.raises(BundleError, match="schema 99"):
        read_card(bundle)


def test_no_card(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no model card"):
        read_card(tmp_path)


def test_session_errors_become_bundle_errors(bundle: Path) -> None:
    session = load_session(bundle / "m.onnx")
    out = session.run(None, bag_feed([np.array([1, 2], np.int64)], "mean"))[0]
    np.testing.assert_allclose(out, [[4.0, 4.0]])
    with pytest.raises(BundleError, match="not found"):
        load_session(bundle / "absent.onnx")
    (bundle / "bad.onnx").write_bytes(b"\x08\x07garbage, not a protobuf")
    with pytest.raises(BundleError, match="bad.onnx: ONNX Runtime cannot load"):
        load_session(bundle / "bad.onnx")


SHIPPED_INTENT = Path(__file__).resolve().parents[1] / "models" / "intent" / "intent.int8.onnx"


class _PublicOnly:
    """A real session seen only through its public API (as an onnxruntime without ``_sess``)."""

    def __init__(self, session: object):
        self._inner = session

    def run(self, outputs: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._inner.run(outputs, feed)  # type: ignore[attr-defined,no-any-return]

    def get_outputs(self) -> list[object]:
        return self._inner.get_outputs()  # type: ignore[attr-defined,no-any-return]


def test_runner_answers_as_the_public_run() -> None:
    session = load_session(SHIPPED_INTENT)
    probe = bag_feed([np.zeros(1, dtype=np.int64)], "mean")
    names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(0)
    for run in (runner(session, probe), runner(_PublicOnly(session), probe)):
        for n in (1, 7, 300):
            feed = bag_feed(
                [rng.integers(0, 1 << 16, size=k, dtype=np.int64) for k in (n, 3)], "mean"
            )
            for got, want in zip(run(names, feed), session.run(names, feed), strict=True):
                np.testing.assert_array_equal(got, want)


def test_a_model_of_an_older_export_is_refused_with_a_rebuild_hint(tmp_path: Path) -> None:
    old = write_old_export(tmp_path / "old.onnx")
    with pytest.raises(BundleError, match=r"takes \['indices'\].*older edge-moma: rebuild"):
        bag_runner(load_session(old), "intent bundle v1")
    assert bag_runner(load_session(SHIPPED_INTENT), "shipped")  # today's export is accepted
