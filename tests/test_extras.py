from __future__ import annotations

import pytest

from edge_moma._extras import require
from edge_moma.errors import MissingDependency


def test_present_module_is_returned() -> None:
    assert require("json", "bench").dumps([1]) == "[1]"


def test_missing_module_names_the_extra_to_install() -> None:
    with pytest.raises(MissingDependency, match=r"pip install 'edge-moma\[bench\]'"):
        require("no_such_module_for_edge_moma", "bench")
