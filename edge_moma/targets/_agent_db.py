"""The on-device SQLite file of the agent stage (``agents.db`` in the data dir).

The list agents' items and the persisted dialog sessions live in one file, a
table each; both open it the same way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlite_utils

DB_NAME = "agents.db"


def database_path(data_dir: str | Path) -> Path:
    """The agent database in the runtime's data dir."""
    return Path(data_dir) / DB_NAME


def open_table(path: Path, table: str, columns: dict[str, Any], pk: str) -> sqlite_utils.Database:
    """Open ``path`` (creating its directory) for use from any thread, with ``table`` in it.

    Raises ``OSError`` or ``sqlite3.Error``; each caller says what failed in its own terms.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
    db.table(table).create(columns, pk=pk, if_not_exists=True)
    return db
