"""Safe router rollout on the device: install a bundle, keep the previous one, roll back.

Installed bundles live in the data dir (the layout is in ``bundle_dirs.py``,
which reads the state without loading anything). ``state.json`` maps each
bundle kind (``intent``, ``routing``) to the installed version in use; a kind
it does not name uses the shipped bundle. Installing copies and verifies the
new files first and then replaces ``state.json`` atomically (write, fsync,
rename): a crash at any point leaves either the old or the new router in
effect, never a mix or a half-copied one. The previous state is kept in
``history`` and ``rollback`` restores it.

An *exploration hint* release (``publish(..., hint=True)``: a routing
candidate the gate refused) is installed beside the active router, never in
its place: ``state.json``'s ``hint`` names it, and the router only lets it
steer which alternative exploration tries (``routing/exploration.py``). A
normal install or a rollback drops the hint (it was judged against the router
it replaced).

What ``install`` accepts: a published release (``release.json`` naming one
directory per kind, with the sha256 of every file — what
``scripts/fleet.py publish`` writes) or a single bundle directory (``card.json``).

Example::

    install(data_dir, "router-release-7")      # verify, copy, swap
    rollback(data_dir)                         # back to what was active before
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..bundle_dirs import (
    CARD_NAME,
    KINDS,
    STATE_NAME,
    active_bundle_dir,
    read_state,
    routers_dir,
)
from ..errors import BundleError
from ..routing.bundle import read_card, sha256_file, verify_bundle
from ..routing.features import FEATURIZER_VERSION
from ..routing.intent import IntentRouter
from ..routing.quality import QualityPredictor

RELEASE_NAME = "release.json"
RELEASE_FORMAT = "edge-moma-router-release"
KEEP_HISTORY = 3


def _write_state(data_dir: Path, state: dict[str, Any]) -> None:
    root = routers_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{STATE_NAME}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(root / STATE_NAME)
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_release(path: str | Path) -> dict[str, Path]:
    """The bundle directories in ``path`` by kind, checking a release's file checksums."""
    path = Path(path)
    if (path / CARD_NAME).is_file():
        card = read_card(path)
        kind = card.get("kind")
        if kind not in KINDS:
            raise BundleError(f"{path}: bundle kind {kind!r} is not one of {list(KINDS)}")
        return {str(kind): path}
    release_file = path / RELEASE_NAME
    try:
        release = json.loads(release_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(
            f"{path}: neither a router release ({RELEASE_NAME}) nor a bundle ({CARD_NAME})"
        ) from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{release_file}: unreadable release manifest ({exc})") from exc
    if release.get("format") != RELEASE_FORMAT:
        raise BundleError(f"{release_file}: not an edge-moma router release")
    for rel, expected in release.get("files", {}).items():
        file = path / rel
        if not file.is_file():
            raise BundleError(f"{file}: listed in the release but missing; download it again")
        if sha256_file(file) != expected:
            raise BundleError(
                f"{file}: sha256 does not match the release manifest (corrupt or altered); "
                "download the release again"
            )
    components = release.get("components", {})
    if not components or any(k not in KINDS for k in components):
        raise BundleError(f"{release_file}: components must name some of {list(KINDS)}")
    return {kind: path / sub for kind, sub in components.items()}


def check_compatible(
    bundle: Path, kind: str, *, required: Iterable[str] | None, current: Path | None
) -> dict[str, Any]:
    """Verify checksums, featurizer version, that this edge-moma runs it, labels; return the card.

    ``required`` names labels the device depends on (its agents' intents); a
    bundle without one of them is refused. Without ``required`` the bundle
    must keep every label of ``current``, the router in use.
    """
    card = verify_bundle(bundle, kind)
    version = (card.get("featurizer") or {}).get("version")
    if version != FEATURIZER_VERSION:
        raise BundleError(
            f"{bundle}: built for featurizer version {version!r}, this edge-moma has "
            f"{FEATURIZER_VERSION}; rebuild the bundle with this edge-moma's training code"
        )
    if not card.get("version"):
        raise BundleError(f"{bundle}: the model card has no version")
    _runnable(bundle, kind)
    labels = set(card.get("labels") or [])
    if required is not None:
        need, what = set(required), "labels this device's config uses"
    elif current is not None and (current / CARD_NAME).is_file():
        need, what = set(read_card(current).get("labels") or []), "labels the current router has"
    else:
        need, what = set(), ""
    missing = need - labels if labels else set()
    if missing:
        raise BundleError(
            f"{bundle}: lacks {what} ({sorted(missing)[:5]}); a router update must keep them"
        )
    return card


def _runnable(bundle: Path, kind: str) -> None:
    """Load ``bundle`` as the runtime would: its ONNX inputs and outputs must be this version's."""
    if kind == "intent":
        IntentRouter.load(bundle)
    else:
        QualityPredictor.load(bundle)


def install(
    data_dir: str | Path,
    bundle: str | Path,
    *,
    required_labels: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Verify ``bundle``, copy it into the data dir and make it active; return the new state.

    ``required_labels`` maps a kind to the labels the device's config uses
    (``edge-moma model install`` passes the agents' intents); without it a
    new bundle must keep every label of the installed one.
    """
    data_dir = Path(data_dir)
    sources = read_release(bundle)
    state = read_state(data_dir)
    if is_hint_release(bundle):
        return _install_hint(data_dir, sources, state)
    new_active = dict(state["active"])
    for kind, src in sources.items():
        required = None if required_labels is None else required_labels.get(kind, ())
        card = check_compatible(
            src, kind, required=required, current=active_bundle_dir(data_dir, kind)
        )
        version = str(card["version"])
        new_active[kind] = _copy_verified(src, routers_dir(data_dir) / kind, version, kind)
    if new_active == state["active"] and "hint" not in state:
        return state
    history = [state["active"], *state["history"]][:KEEP_HISTORY]
    new_state = {"active": new_active, "history": history}
    _write_state(data_dir, new_state)
    _clean(data_dir, new_state)
    return new_state


def is_hint_release(path: str | Path) -> bool:
    """Whether ``path`` is a release published as an exploration hint (``release.json``)."""
    try:
        release = json.loads((Path(path) / RELEASE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(release, dict) and release.get("hint") is True


def _install_hint(
    data_dir: Path, sources: Mapping[str, Path], state: dict[str, Any]
) -> dict[str, Any]:
    """Copy a hint release's routing bundle and name it in ``state["hint"]``; the active
    routers and the history stay as they are."""
    if set(sources) != {"routing"}:
        raise BundleError(
            f"an exploration hint release holds one routing bundle, not {sorted(sources)}"
        )
    src = sources["routing"]
    card = check_compatible(
        src, "routing", required=None, current=active_bundle_dir(data_dir, "routing")
    )
    version = _copy_verified(
        src, routers_dir(data_dir) / "routing", str(card["version"]), "routing"
    )
    new_state = {**state, "hint": {"routing": version}}
    _write_state(data_dir, new_state)
    _clean(data_dir, new_state)
    return new_state


def _copy_verified(src: Path, kind_dir: Path, version: str, kind: str) -> str:
    final = kind_dir / version
    if final.is_dir():
        try:
            same = verify_bundle(final, kind) == read_card(src)
        except BundleError:
            same = False
        if same:
            return version
        raise BundleError(
            f"{src}: version {version!r} is already installed with different files; "
            "publish the new bundle under a new version"
        )
    kind_dir.mkdir(parents=True, exist_ok=True)
    partial = kind_dir / f".partial-{version}-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    shutil.copytree(src, partial)
    for file in partial.iterdir():
        with open(file, "rb") as fh:
            os.fsync(fh.fileno())
    verify_bundle(partial, kind)
    partial.rename(final)
    _fsync_dir(kind_dir)
    return version


def _clean(data_dir: Path, state: dict[str, Any]) -> None:
    """Delete copies no state entry refers to, and partial copies from crashed installs."""
    entries = [state["active"], *state["history"], state.get("hint") or {}]
    keep = {(k, v) for entry in entries for k, v in entry.items()}
    for kind in KINDS:
        kind_dir = routers_dir(data_dir) / kind
        if not kind_dir.is_dir():
            continue
        for child in kind_dir.iterdir():
            if child.is_dir() and (kind, child.name) not in keep:
                shutil.rmtree(child, ignore_errors=True)


def rollback(data_dir: str | Path) -> dict[str, Any]:
    """Make the previous state active again; ``BundleError`` if there is none."""
    data_dir = Path(data_dir)
    state = read_state(data_dir)
    if not state["history"]:
        raise BundleError("nothing to roll back to: no earlier router was installed here")
    previous, *rest = state["history"]
    new_state = {"active": previous, "history": rest}
    _write_state(data_dir, new_state)
    return new_state


def list_versions(data_dir: str | Path, shipped: dict[str, Path]) -> list[dict[str, Any]]:
    """Every router version this device has (shipped and installed), which is active, and
    which is the exploration hint (``hint``: installed beside the active one, never used
    for a greedy choice)."""
    state = read_state(data_dir)
    rows: list[dict[str, Any]] = []
    for kind in KINDS:
        active = state["active"].get(kind)
        hint = (state.get("hint") or {}).get(kind)
        ship = shipped.get(kind)
        if ship is not None and (ship / CARD_NAME).is_file():
            rows.append(
                {
                    "kind": kind,
                    "version": str(read_card(ship).get("version", "")),
                    "source": "shipped",
                    "active": not active,
                    "hint": False,
                    "path": str(ship),
                }
            )
        kind_dir = routers_dir(data_dir) / kind
        if kind_dir.is_dir():
            for child in sorted(kind_dir.iterdir()):
                if (
                    child.is_dir()
                    and not child.name.startswith(".")
                    and (child / CARD_NAME).exists()
                ):
                    rows.append(
                        {
                            "kind": kind,
                            "version": child.name,
                            "source": "installed",
                            "active": child.name == active,
                            "hint": child.name == hint,
                            "path": str(child),
                        }
                    )
    return rows
