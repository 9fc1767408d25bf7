"""Find the files edge-moma ships: the default config and the router bundles.

In a source checkout (and an editable install) they are the repository's
top-level ``configs/`` and ``models/``; a wheel carries them inside the
package as ``edge_moma/_shipped/{configs,models}``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def packaged_path(name: str) -> Path:
    """The shipped directory ``name`` (``configs`` or ``models``)."""
    inside = _PACKAGE_DIR / "_shipped" / name
    if inside.is_dir():
        return inside
    return _PACKAGE_DIR.parent / name
