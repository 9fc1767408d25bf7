"""The package's layers (ARCHITECTURE.md): who may import whom, and what an import loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "edge_moma"

# The values layer: the standard library (and orjson) only.
VALUES = {
    "errors", "decision", "messages", "traits", "speed", "attempt", "session",
    "bundle_dirs", "_resources", "_extras", "_lazy", "_throttled_log", "agents", "jsonl",
    "untrusted",
}  # fmt: skip
# Each layer and the top-level parts of edge_moma it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "values": VALUES,
    # config and the request's context (checked with config's rules); targets: the kinds
    # registry, imported late
    "config": VALUES | {"model_files", "targets"},
    "routing": VALUES | {"config", "context", "model_files", "device"},
    "targets": VALUES | {"config", "context", "model_files"},
    "log": VALUES,
    "training": VALUES | {"config", "context", "model_files", "routing", "log"},
}


def layer(module: str) -> str | None:
    """The layer of a module path below edge_moma (``routing.policy``), None for the faces."""
    top = module.split(".")[0]
    if top in VALUES:
        return "values"
    if top == "context":  # the request's context, checked by the config's own rules
        return "config"
    if top in ("config", "routing", "targets", "log", "training"):
        return top
    return None  # runtime, serve, cli, demo, doctor, report, device...: may import any layer


def imports(path: Path) -> set[str]:
    """The edge_moma modules ``path`` imports at run time (not under TYPE_CHECKING)."""
    module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            target = [*base, *(node.module.split(".") if node.module else [])]
            if not node.module:  # from . import a, b: modules
                found.update(".".join([*target, a.name]) for a in node.names)
                continue
            found.add(".".join(target))
        elif node.module and node.module.startswith("edge_moma."):
            found.add(node.module.removeprefix("edge_moma."))
    return {m for m in found if m}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "_shipped" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_layer_imports_only_the_layers_below_it(path: Path) -> None:
    module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
    own = layer(module)
    if own is None:
        return
    for dep in imports(path):
        top = dep.split(".")[0]
        if layer(dep) == own or top == module.split(".")[0]:
            continue
        if own == "config" and dep != "targets.kinds" and top == "targets":
            pytest.fail(f"{module} imports {dep}: config may only reach the kinds registry")
        assert top in ALLOWED[own], f"{module} ({own}) imports {dep}"


def loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_the_log_and_its_sync_load_no_backend_executor_policy_or_numpy() -> None:
    loaded = loaded_after(
        "import edge_moma.log, edge_moma.log.sync, edge_moma.log.writer, edge_moma.log.store"
    )
    heavy = {"numpy", "onnxruntime", "llama_cpp", "httpx", "sqlite_utils"} & loaded
    assert heavy == set()
    above = ("edge_moma.routing", "edge_moma.targets", "edge_moma.config")
    assert sorted(m for m in loaded if m.startswith(above)) == []


def test_the_values_layer_loads_nothing_but_the_standard_library_and_orjson() -> None:
    loaded = loaded_after(
        "import edge_moma.errors, edge_moma.decision, edge_moma.messages, edge_moma.traits, "
        "edge_moma.speed, edge_moma.attempt, edge_moma.session, edge_moma.bundle_dirs, "
        "edge_moma.jsonl, edge_moma.untrusted, edge_moma._throttled_log, edge_moma.agents.base"
    )
    baseline = loaded_after("")  # the interpreter's own start-up (site hooks)
    third_party = {m.split(".")[0] for m in loaded - baseline} - set(sys.stdlib_module_names)
    assert third_party <= {"edge_moma", "orjson"}


def test_routing_decides_without_loading_a_backend() -> None:
    loaded = loaded_after("import edge_moma.routing.router")
    assert {"llama_cpp", "httpx", "starlette"} & loaded == set()
    assert [m for m in loaded if m.startswith(("edge_moma.targets", "edge_moma.log"))] == []


def test_every_module_imports() -> None:
    """Each module's imports resolve (type checking ignores missing modules)."""
    import importlib
    import pkgutil

    import edge_moma

    aliases = {"edge_moma.client", "edge_moma.executor", "edge_moma.decision_log"}  # they warn
    for info in pkgutil.walk_packages(edge_moma.__path__, "edge_moma."):
        if info.name not in aliases and info.name != "edge_moma.__main__":
            importlib.import_module(info.name)
