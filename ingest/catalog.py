"""The catalog: a SQLite file that is the single source of truth for which documents and chunks are live.

Vectors and the lexical index are derived from it. A document is replaced in one SQLite
transaction, so there is never a moment when both versions, or neither, are live; retrieval only
returns chunk ids that the catalog holds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ingest.types import Chunk, DocumentMeta, PageInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    file TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    issuing_body TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    doc_type TEXT NOT NULL,
    status TEXT NOT NULL,
    year INTEGER,
    source TEXT NOT NULL,
    licence TEXT NOT NULL,
    pages INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    document_id TEXT NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    ocr_confidence REAL,
    PRIMARY KEY (document_id, number)
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    section TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    page_start INTEGER NOT NULL,
    page_end INTEGER NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    embed_text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id, ordinal);
-- An admin's corrections of a document's metadata, by file name: they outlive its versions, so a re-upload
-- or a re-ingest of the folder (whose manifest.json may say otherwise) keeps them.
CREATE TABLE IF NOT EXISTS edits (
    file TEXT PRIMARY KEY,
    fields TEXT NOT NULL,
    edited_at REAL NOT NULL
);
"""

# Chunks joined with their document: what row_to_chunk reads.
_CHUNK_SELECT = (
    "SELECT c.*, d.file, d.title, d.issuing_body, d.jurisdiction, d.doc_type, d.status, d.year, "
    "d.source, d.licence FROM chunks c JOIN documents d USING(document_id) "
)
_DOC_FIELDS = ("title", "issuing_body", "jurisdiction", "doc_type", "status", "year", "source", "licence")


class Catalog:
    """Documents, pages and chunks in one SQLite file (WAL mode, one writer at a time)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {str(r[1]) for r in self._db.execute("PRAGMA table_info(pages)")}
        # Catalogs written before Word sections and OCR had pages without a label or confidence.
        if "label" not in columns:
            self._db.execute("ALTER TABLE pages ADD COLUMN label TEXT NOT NULL DEFAULT ''")
        if "ocr_confidence" not in columns:
            self._db.execute("ALTER TABLE pages ADD COLUMN ocr_confidence REAL")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: all of it commits, or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A value stored with the index (model name, chunker version, generation)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: dict[str, str]) -> None:
        """Store values with the index."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))

    def generation(self) -> int:
        """A counter bumped by every change to the live set; derived indexes record the one they saw."""
        return int(self.get_meta("generation") or 0)

    # --- documents ----------------------------------------------------------------------------
    def document_by_file(self, file: str) -> sqlite3.Row | None:
        """The live document stored under a file name."""
        return self._db.execute("SELECT * FROM documents WHERE file = ?", (file,)).fetchone()  # type: ignore[no-any-return]

    def document(self, document_id: str) -> sqlite3.Row | None:
        """A live document by id."""
        return self._db.execute("SELECT * FROM documents WHERE document_id = ?", (document_id,)).fetchone()  # type: ignore[no-any-return]

    def documents(self) -> list[sqlite3.Row]:
        """Every live document with its chunk count."""
        return self._db.execute(
            "SELECT d.*, (SELECT COUNT(*) FROM chunks c WHERE c.document_id = d.document_id) AS chunks "
            "FROM documents d ORDER BY d.file"
        ).fetchall()

    def page_text(self, document_id: str, number: int) -> str | None:
        """The cleaned text of one page, as chunk offsets index it."""
        row = self._db.execute(
            "SELECT text FROM pages WHERE document_id = ? AND number = ?", (document_id, number)
        ).fetchone()
        return None if row is None else str(row[0])

    def cite(self, document_id: str, number: int) -> str:
        """How a citation names a page: "p. 3", "p. 3 (OCR)" or a Word section's "§4.2 Deviations"."""
        return (self.page_info(document_id, number) or PageInfo()).cite(number)

    def page_info(self, document_id: str, number: int) -> PageInfo | None:
        """How one page was read (OCR and its confidence) and how a citation names it."""
        row = self._db.execute(
            "SELECT label, ocr_confidence FROM pages WHERE document_id = ? AND number = ?", (document_id, number)
        ).fetchone()
        return None if row is None else PageInfo(label=str(row[0]), ocr_confidence=row[1])

    def replace_document(
        self,
        file: str,
        document_id: str,
        meta: DocumentMeta,
        pages: Sequence[str],
        size_bytes: int,
        chunks: Sequence[tuple[Chunk, str]],
        page_info: Sequence[PageInfo] = (),
    ) -> list[str]:
        """Make `document_id` the live version of `file` in one transaction; return the chunk ids it retired."""
        with self.transaction() as db:
            retired = [
                str(r[0])
                for r in db.execute(
                    "SELECT c.chunk_id FROM chunks c JOIN documents d USING(document_id) WHERE d.file = ?", (file,)
                )
            ]
            db.execute("DELETE FROM documents WHERE file = ? OR document_id = ?", (file, document_id))
            m = asdict(meta)
            db.execute(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (document_id, file, *[m[k] for k in _DOC_FIELDS], len(pages), size_bytes, time.time()),
            )
            info = list(page_info) or [PageInfo()] * len(pages)
            db.executemany(
                "INSERT INTO pages(document_id, number, text, label, ocr_confidence) VALUES (?,?,?,?,?)",
                [
                    (document_id, i + 1, t, p.label, p.ocr_confidence)
                    for i, (t, p) in enumerate(zip(pages, info, strict=True))
                ],
            )
            db.executemany(
                "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        c.chunk_id,
                        document_id,
                        c.ordinal,
                        c.section,
                        json.dumps(list(c.heading_path)),
                        c.page_start,
                        c.page_end,
                        c.char_start,
                        c.char_end,
                        c.kind,
                        c.text,
                        embed_text,
                    )
                    for c, embed_text in chunks
                ],
            )
            self._bump(db)
        new_ids = {c.chunk_id for c, _ in chunks}
        return [r for r in retired if r not in new_ids]

    def remove_document(self, document_id: str) -> list[str]:
        """Remove a document in one transaction; return the chunk ids it retired."""
        with self.transaction() as db:
            ids = [str(r[0]) for r in db.execute("SELECT chunk_id FROM chunks WHERE document_id = ?", (document_id,))]
            n = db.execute("DELETE FROM documents WHERE document_id = ?", (document_id,)).rowcount
            if n:
                self._bump(db)
        return ids if n else []

    @staticmethod
    def _bump(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO meta(key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # --- an admin's metadata edits ------------------------------------------------------------
    def edits_for(self, file: str) -> dict[str, Any]:
        """The metadata fields an admin set for `file`, which every later version of it keeps."""
        row = self._db.execute("SELECT fields FROM edits WHERE file = ?", (file,)).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def record_edits(self, file: str, fields: dict[str, Any], replace: bool = False) -> dict[str, Any]:
        """Add `fields` to the edits kept for `file` (a later edit of a field replaces the earlier), or with
        `replace` make them the only ones (none: forget them); return all of them."""
        with self.transaction() as db:
            if replace and not fields:
                db.execute("DELETE FROM edits WHERE file = ?", (file,))
                return {}
            row = db.execute("SELECT fields FROM edits WHERE file = ?", (file,)).fetchone()
            merged = (json.loads(row[0]) if row and not replace else {}) | fields
            db.execute(
                "INSERT INTO edits(file, fields, edited_at) VALUES (?, ?, ?) "
                "ON CONFLICT(file) DO UPDATE SET fields = excluded.fields, edited_at = excluded.edited_at",
                (file, json.dumps(merged, sort_keys=True), time.time()),
            )
        return dict(merged)

    # --- chunks -------------------------------------------------------------------------------
    def chunk_ids(self) -> set[str]:
        """Every live chunk id."""
        return {str(r[0]) for r in self._db.execute("SELECT chunk_id FROM chunks")}

    def iter_chunk_texts(self) -> Iterator[tuple[str, str]]:
        """(chunk id, embedded text) for every live chunk, in a stable order."""
        yield from (
            (str(r[0]), str(r[1]))
            for r in self._db.execute("SELECT chunk_id, embed_text FROM chunks ORDER BY document_id, ordinal")
        )

    def chunks_by_id(self, ids: Iterable[str]) -> dict[str, Chunk]:
        """Live chunks for the given ids; ids that are not live are simply absent."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        out: dict[str, Chunk] = {}
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            rows = self._db.execute(
                _CHUNK_SELECT + f"WHERE c.chunk_id IN ({','.join('?' * len(part))})",
                part,
            ).fetchall()
            for r in rows:
                out[r["chunk_id"]] = row_to_chunk(r)
        return out

    def chunks_of_document(self, document_id: str) -> list[Chunk]:
        """A document's chunks in reading order."""
        rows = self._db.execute(
            _CHUNK_SELECT + "WHERE c.document_id = ? ORDER BY c.ordinal",
            (document_id,),
        ).fetchall()
        return [row_to_chunk(r) for r in rows]

    def filter_mask_rows(self) -> list[sqlite3.Row]:
        """Per live chunk, the document fields that retrieval filters on."""
        return self._db.execute(
            "SELECT c.chunk_id, c.document_id, d.issuing_body, d.jurisdiction, d.doc_type, d.status, d.year "
            "FROM chunks c JOIN documents d USING(document_id)"
        ).fetchall()


def row_to_chunk(r: sqlite3.Row) -> Chunk:
    """A catalog row (chunk joined with its document) as a Chunk."""
    meta = DocumentMeta(**{k: r[k] for k in _DOC_FIELDS})
    return Chunk(
        chunk_id=r["chunk_id"],
        document_id=r["document_id"],
        file=r["file"],
        title=r["title"],
        ordinal=r["ordinal"],
        section=r["section"],
        heading_path=tuple(json.loads(r["heading_path"])),
        page_start=r["page_start"],
        page_end=r["page_end"],
        char_start=r["char_start"],
        char_end=r["char_end"],
        text=r["text"],
        kind=r["kind"],
        meta=meta,
    )


class PinnedCatalog(Catalog):
    """A read-only view of a catalog holding only the given document versions, at a fixed generation.

    An evaluation run reads the corpus it was defined on through it: a document uploaded since is not
    in it, and every statistic derived from it (BM25's document frequencies and average length, the
    acronyms the documents define) counts the pinned versions only."""

    def __init__(self, live: Catalog, document_ids: Iterable[str]) -> None:
        self.path = live.path
        self._db = live._db
        self.only = frozenset(document_ids)
        self._params = tuple(sorted(self.only))
        self._generation = live.generation()
        self._in = f"({','.join('?' * len(self._params))})"

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        raise PermissionError("a pinned catalog is read-only: it is a snapshot for an evaluation run")
        yield self._db  # pragma: no cover

    def close(self) -> None:
        """The live catalog owns the connection."""

    def generation(self) -> int:
        return self._generation

    def document_by_file(self, file: str) -> sqlite3.Row | None:
        row = super().document_by_file(file)
        return row if row is not None and row["document_id"] in self.only else None

    def document(self, document_id: str) -> sqlite3.Row | None:
        return super().document(document_id) if document_id in self.only else None

    def documents(self) -> list[sqlite3.Row]:
        return [r for r in super().documents() if r["document_id"] in self.only]

    def chunk_ids(self) -> set[str]:
        q = f"SELECT chunk_id FROM chunks WHERE document_id IN {self._in}"
        return {str(r[0]) for r in self._db.execute(q, self._params)}

    def iter_chunk_texts(self) -> Iterator[tuple[str, str]]:
        q = f"SELECT chunk_id, embed_text FROM chunks WHERE document_id IN {self._in} ORDER BY document_id, ordinal"
        yield from ((str(r[0]), str(r[1])) for r in self._db.execute(q, self._params))

    def chunks_by_id(self, ids: Iterable[str]) -> dict[str, Chunk]:
        return {k: c for k, c in super().chunks_by_id(ids).items() if c.document_id in self.only}

    def chunks_of_document(self, document_id: str) -> list[Chunk]:
        return super().chunks_of_document(document_id) if document_id in self.only else []

    def filter_mask_rows(self) -> list[sqlite3.Row]:
        return [r for r in super().filter_mask_rows() if r["document_id"] in self.only]
