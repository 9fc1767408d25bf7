"""Find the files edge-moma ships: the default config and the router bundles.

They live at the top of the repository (``configs/``, ``models/``);
``edge_moma/_shipped/`` links to them, so a wheel carries copies inside the
package and a checkout (or an editable install) reads the originals. Where a
checkout has no symlinks, the top-level directories are used directly.
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
