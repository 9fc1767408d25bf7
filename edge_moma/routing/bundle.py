"""Router bundles on disk: a directory of ONNX files plus one model card.

A bundle is what ``scripts/build_models.py`` ships in ``models/`` and what
``edge-moma train`` writes. Its ``card.json`` says what the model is (kind,
labels, featurizer parameters, training data and their sha256, metrics, seed,
version) and holds the sha256 of every other file in the directory, so a
truncated or swapped file is refused with a clear message at load time instead
of producing wrong routes.

Every failure here (missing file, bad JSON, checksum mismatch, a file ONNX
Runtime cannot load) is raised as ``BundleError`` naming the file and what to do.

Example::

    card = write_card(out_dir, {"kind": "intent", "version": "intent-1", ...})
    card = verify_bundle(out_dir)          # re-hashes every file listed in the card
    session = load_session(out_dir / card["models"]["int8"])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle_dirs import CARD_NAME
from ..errors import BundleError
from .features import POOLINGS, bag_feed, mask_feed

CARD_SCHEMA = 1
_REBUILD_HINT = "rebuild it (python scripts/build_models.py) or retrain it (edge-moma train)"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks so large data files stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_card(bundle_dir: str | Path, card: dict[str, Any]) -> dict[str, Any]:
    """Write ``card.json`` with the sha256 of every other file in ``bundle_dir``.

    Call it last, after every model file is written; returns the card as written.
    """
    bundle_dir = Path(bundle_dir)
    files = {
        p.name: sha256_file(p)
        for p in sorted(bundle_dir.iterdir())
        if p.is_file() and p.name != CARD_NAME
    }
    card = {"schema": CARD_SCHEMA, **card, "files": files}
    text = json.dumps(card, indent=2, ensure_ascii=False, sort_keys=False)
    (bundle_dir / CARD_NAME).write_text(text + "\n", encoding="utf-8")
    return card


def read_card(bundle_dir: str | Path) -> dict[str, Any]:
    """Read and minimally validate ``card.json`` (no checksums; see ``verify_bundle``)."""
    path = Path(bundle_dir) / CARD_NAME
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(
            f"{path}: no model card; is this a router bundle? {_REBUILD_HINT}"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: unreadable model card ({exc}); {_REBUILD_HINT}") from exc
    if not isinstance(card, dict) or not isinstance(card.get("files"), dict):
        raise BundleError(f"{path}: model card has no 'files' table; {_REBUILD_HINT}")
    if card.get("schema") != CARD_SCHEMA:
        raise BundleError(
            f"{path}: model card schema {card.get('schema')!r}, this edge-moma reads "
            f"schema {CARD_SCHEMA}; {_REBUILD_HINT}"
        )
    return card


def verify_bundle(bundle_dir: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read the card and check every listed file's sha256; return the card.

    ``kind`` (``"intent"``, ``"routing"``...) refuses a bundle built for another model.
    """
    bundle_dir = Path(bundle_dir)
    card = read_card(bundle_dir)
    if kind is not None and card.get("kind") != kind:
        raise BundleError(
            f"{bundle_dir}: bundle holds a {card.get('kind')!r} model, expected {kind!r}"
        )
    for name, expected in card["files"].items():
        path = bundle_dir / name
        if not path.is_file():
            raise BundleError(f"{path}: listed in the model card but missing; {_REBUILD_HINT}")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(
                f"{path}: sha256 {actual[:12]}... does not match the model card "
                f"({str(expected)[:12]}...): the file is corrupt or was replaced; {_REBUILD_HINT}"
            )
    return card


def load_session(path: str | Path, intra_op_threads: int = 1) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU, created once per model.

    One intra-op thread by default: at batch size 1 the graphs are tiny and
    thread hand-off costs more than it saves, and the device has other work.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: ONNX model file not found; {_REBUILD_HINT}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
        raise BundleError(
            f"{path}: ONNX Runtime cannot load this model ({exc}); {_REBUILD_HINT}"
        ) from exc


Runner = Callable[[list[str], dict[str, Any]], list[Any]]


def runner(session: Any, probe: dict[str, Any]) -> Runner:
    """``session.run`` without its per-call Python checks, where this onnxruntime allows.

    ``InferenceSession.run`` re-validates the feed in Python on every call,
    about 12 us of a 30 us intent-model run at batch size 1 (onnxruntime 1.32).
    Our feeds are built by our own code for inputs checked at load, so the
    binding underneath is called directly once it has answered ``probe``
    exactly as the public ``run`` does; otherwise the public ``run`` is used.
    """
    raw: Any = getattr(session, "_sess", None)
    names = [o.name for o in session.get_outputs()]
    try:
        direct = raw.run(names, probe, None)
        public = session.run(names, probe)
        same = len(direct) == len(public) and all(
            np.array_equal(a, b) for a, b in zip(direct, public, strict=True)
        )
    except Exception:  # no such binding, or another signature: keep the public run
        same = False
    if not same:
        return lambda outputs, feed: session.run(outputs, feed)

    def run(outputs: list[str], feed: dict[str, Any]) -> list[Any]:
        return raw.run(outputs, feed, None)

    return run


BagRunner = Callable[[list[str], Sequence[np.ndarray]], list[Any]]


def bag_runner(session: Any, what: str) -> BagRunner:
    """Run an embedding-bag model (``onnx_export``) on texts' featurizer ids.

    ``run(outputs, rows)`` builds the feed the graph takes: pooling weights
    (``features.bag_feed``), or the 0/1 mask of a model exported before them,
    which pools in the graph and so still loads. A model exported before
    batches (one ``indices`` input) is refused with a rebuild hint rather than
    failing on its first query.
    """
    inputs = sorted(i.name for i in session.get_inputs())
    feed: Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]
    if inputs == ["indices", "weights"]:
        pooling = session.get_modelmeta().custom_metadata_map.get("pooling")
        if pooling not in POOLINGS:
            raise BundleError(
                f"{what}: the ONNX model's metadata names pooling {pooling!r}, not mean, "
                f"sum or sqrtn; {_REBUILD_HINT}"
            )
        feed = partial(bag_feed, pooling=pooling)
    elif inputs == ["indices", "mask"]:
        feed = mask_feed
    else:
        raise BundleError(
            f"{what}: the ONNX model takes {inputs}, not a batch of padded ids "
            f"['indices', 'weights']; it was exported by an older edge-moma: {_REBUILD_HINT}"
        )
    raw = runner(session, feed([np.zeros(1, dtype=np.int64)]))

    def run(outputs: list[str], rows: Sequence[np.ndarray]) -> list[Any]:
        return raw(outputs, feed(rows))

    return run
