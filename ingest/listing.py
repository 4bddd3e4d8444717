"""The live documents of a SQLite catalog, read with the standard library alone.

`regassist docs` only lists documents; importing SQLAlchemy for that would cost it more than the rest of
its start-up (README "Runtime"). The catalog reads the same query (`ingest.catalog.Catalog.documents`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

# Every live document with its chunk count, by file name.
DOCUMENTS = (
    "SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.document_id) AS chunks "
    "FROM documents d ORDER BY d.file"
)


def documents_in_file(path: Path) -> list[dict[str, Any]] | None:
    """The documents of the catalog file at `path`, read-only; None when it has no catalog yet."""
    if not path.is_file():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(DOCUMENTS)]
    except sqlite3.OperationalError:  # a file without the tables yet
        return None
    finally:
        db.close()
