"""Import paths the README documented before the package was reorganised keep working, warning."""

from __future__ import annotations

import importlib
import sys

import pytest

MOVED = {
    "edge_moma.client": ("edge_moma.serve.client", ["Client", "AsyncClient"]),
    "edge_moma.executor": (
        "edge_moma.targets.executor",
        ["Response", "ResponseStream", "execute"],
    ),
    "edge_moma.decision_log": (
        "edge_moma.log.writer",
        ["exit_on_sigterm", "DecisionLog", "LogSettings"],
    ),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_warns_and_gives_the_same_objects(old: str) -> None:
    new, names = MOVED[old]
    sys.modules.pop(old, None)
    with pytest.deprecated_call(match=new.replace(".", r"\.")):
        module = importlib.import_module(old)
    target = importlib.import_module(new)
    for name in names:
        assert getattr(module, name) is getattr(target, name)


def test_the_executor_alias_still_offers_its_errors() -> None:
    from edge_moma.errors import AllTargetsFailed, StreamInterrupted

    sys.modules.pop("edge_moma.executor", None)
    with pytest.deprecated_call():
        from edge_moma.executor import AllTargetsFailed as Old
        from edge_moma.executor import StreamInterrupted as OldStream
    assert (Old, OldStream) == (AllTargetsFailed, StreamInterrupted)
