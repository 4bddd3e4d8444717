"""The catalog: the single source of truth for which documents and chunks are live.

Vectors and the lexical index are derived from it. A document is replaced in one transaction, so there is
never a moment when both versions, or neither, are live; retrieval only returns chunk ids that the catalog
holds. It is a SQLite file in the data folder by default, or the schema `catalog` of a PostgreSQL database
(`REGASSIST_DATABASE_URL`), which every process on every machine then reads; its schema is migrated with
Alembic (`ingest/migrations`), one process at a time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, String, TextClause, bindparam, create_engine, event, exc, text

from ingest.database import CATALOG_SCHEMA_LOCK, EDITS_LOCK, SQLITE_PRAGMAS, WRITE_LOCK, advisory_lock, sqlalchemy_url
from ingest.listing import DOCUMENTS
from ingest.types import Chunk, DocumentMeta, PageInfo

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "catalog"  # on PostgreSQL, beside the review desk's tables in the same database
WAIT_NOTE_S = 30.0  # a writer waiting on another says so this often
HEAD = "0001"  # the newest migration; a catalog already there opens without loading Alembic

log = logging.getLogger("regassist.catalog")

# A catalog row: fields by name.
Row = RowMapping

# Chunks joined with their document: what row_to_chunk reads.
_CHUNK_SELECT = (
    "SELECT c.*, d.file, d.title, d.issuing_body, d.jurisdiction, d.doc_type, d.status, d.year, "
    "d.source, d.licence FROM chunks c JOIN documents d USING(document_id) "
)
_DOC_FIELDS = ("title", "issuing_body", "jurisdiction", "doc_type", "status", "year", "source", "licence")
_DOC_COLUMNS = ("document_id", "file", *_DOC_FIELDS, "pages", "size_bytes", "ingested_at")
# Chunk fields stored as they are; the chunk's document, heading path (JSON) and embedded text are added.
_CHUNK_FIELDS = ("chunk_id", "ordinal", "section", "page_start", "page_end", "char_start", "char_end", "kind", "text")
_CHUNK_COLUMNS = (*_CHUNK_FIELDS, "document_id", "heading_path", "embed_text")


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"


def catalog_engine(location: Path | str) -> Engine:
    """An engine for a catalog: a SQLite file (a Path), or a PostgreSQL URL whose schema `catalog` holds it.

    On SQLite, reads run in plain transactions and writes in `BEGIN IMMEDIATE` ones (the `write` execution
    option), so a writer holds the file's one write lock from its first read; WAL lets readers go on."""
    if isinstance(location, Path):
        location.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{location}", connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
            for pragma in SQLITE_PRAGMAS:
                dbapi_conn.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        return engine
    url = sqlalchemy_url(location)
    if not url.startswith("postgresql"):
        raise ValueError(f"a catalog lives in a SQLite file or a PostgreSQL database, not {location!r}")
    # Keepalives: a machine that vanishes without closing its connections (power, network) releases the
    # writer lock it held within a minute or so, not after the kernel's two hours.
    keepalives = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
    return create_engine(url, pool_pre_ping=True, connect_args={"options": f"-c search_path={SCHEMA}", **keepalives})


def current_revision(engine: Engine) -> str | None:
    """The catalog's migration revision, or None before its first."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM catalog_version")).scalar()
        except exc.DBAPIError:
            return None


def lock_schema(conn: Connection) -> None:
    """On PostgreSQL, create the catalog's schema if need be and hold its lock until the transaction ends,
    so that processes starting at once change it one at a time (a no-op on SQLite, whose write lock does)."""
    if conn.dialect.name == "postgresql":
        advisory_lock(conn, CATALOG_SCHEMA_LOCK)
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))


def migrate(engine: Engine) -> None:
    """Bring the catalog's schema to the newest migration (a no-op when it is there already)."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        lock_schema(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def drop(location: Path | str) -> None:
    """Delete a catalog, for a rebuild: its SQLite files, or its PostgreSQL schema."""
    if isinstance(location, Path):
        for suffix in ("", "-wal", "-shm"):
            location.with_name(location.name + suffix).unlink(missing_ok=True)
        return
    engine = catalog_engine(location)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


class Catalog:
    """Documents, pages and chunks in a SQLite file (WAL, one writer at a time) or PostgreSQL."""

    def __init__(self, location: Path | str) -> None:
        self.location = location
        self._engine = catalog_engine(location)
        migrate(self._engine)

    def close(self) -> None:
        """Close the connections."""
        self._engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic write: all of it commits, or none of it."""
        with self._engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Be the index's only writer until the block ends, in every process on every machine.

        A writer starts by reconciling: it deletes the vectors the catalog does not hold. While another
        writer runs, those include the vectors of the file it has just embedded and is about to switch in,
        which would go live without them. On SQLite a lock file beside the catalog (one machine); on
        PostgreSQL a session advisory lock on a connection of its own, released if the process dies."""
        if isinstance(self.location, Path):
            from filelock import FileLock, Timeout

            lock = FileLock(self.location.with_name(self.location.name + ".writer.lock"))
            while True:
                try:
                    lock.acquire(timeout=WAIT_NOTE_S)
                    break
                except Timeout:
                    log.warning("waiting for another writer of %s to finish", self.location)
            try:
                yield
            finally:
                lock.release()
            return
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            waited = time.monotonic()
            while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": WRITE_LOCK}).scalar():
                if time.monotonic() - waited > WAIT_NOTE_S:
                    log.warning("waiting for another writer of the PostgreSQL catalog to finish")
                    waited = time.monotonic()
                time.sleep(0.2)
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": WRITE_LOCK})
                except exc.DBAPIError:
                    conn.invalidate()  # closing the session is what releases its lock then
                    raise

    def import_file(self, path: Path) -> int:
        """Copy the catalog file at `path` (migrated first) into this empty catalog in one transaction; return
        how many documents it held. Generation, identity and an admin's edits come with it."""
        source = Catalog(path)
        try:
            with source._engine.connect() as src, self.transaction() as dst:
                for table in ("meta", "documents", "pages", "chunks", "edits"):
                    result = src.execute(text(f"SELECT * FROM {table}")).mappings()
                    for part in result.partitions(1000):
                        dst.execute(text(_insert(table, [str(k) for k in part[0]])), [dict(r) for r in part])
            return len(source.documents())
        finally:
            source.close()

    def _snapshot(self) -> Connection:
        """A read connection whose statements all see one state (SQLite's transactions do; PostgreSQL's read
        committed does not, so repeatable read there)."""
        conn = self._engine.connect()
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        return conn

    def _rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params or {}).mappings())

    def _row(self, sql: str, params: Mapping[str, Any]) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # --- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A value stored with the index (model name, chunker version, generation)."""
        row = self._row("SELECT value FROM meta WHERE key = :key", {"key": key})
        return None if row is None else str(row["value"])

    def set_meta(self, values: dict[str, str]) -> None:
        """Store values with the index."""
        with self.transaction() as db:
            db.execute(
                text(
                    "INSERT INTO meta(key, value) VALUES (:key, :value) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                ),
                [{"key": k, "value": v} for k, v in values.items()],
            )

    def generation(self) -> int:
        """A counter bumped by every change to the live set; derived indexes record the one they saw."""
        return int(self.get_meta("generation") or 0)

    # --- documents ----------------------------------------------------------------------------
    def document_by_file(self, file: str) -> Row | None:
        """The live document stored under a file name."""
        return self._row("SELECT * FROM documents WHERE file = :file", {"file": file})

    def document(self, document_id: str) -> Row | None:
        """A live document by id."""
        return self._row("SELECT * FROM documents WHERE document_id = :id", {"id": document_id})

    def documents(self) -> list[Row]:
        """Every live document with its chunk count."""
        return self._rows(DOCUMENTS)

    def page_text(self, document_id: str, number: int) -> str | None:
        """The cleaned text of one page, as chunk offsets index it."""
        row = self._row(
            "SELECT text FROM pages WHERE document_id = :id AND number = :n", {"id": document_id, "n": number}
        )
        return None if row is None else str(row["text"])

    def cite(self, document_id: str, number: int) -> str:
        """How a citation names a page: "p. 3", "p. 3 (OCR)" or a Word section's "§4.2 Deviations"."""
        return (self.page_info(document_id, number) or PageInfo()).cite(number)

    def page_info(self, document_id: str, number: int) -> PageInfo | None:
        """How one page was read (OCR and its confidence) and how a citation names it."""
        row = self._row(
            "SELECT label, ocr_confidence FROM pages WHERE document_id = :id AND number = :n",
            {"id": document_id, "n": number},
        )
        return None if row is None else PageInfo(label=str(row["label"]), ocr_confidence=row["ocr_confidence"])

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
                    text("SELECT c.chunk_id FROM chunks c JOIN documents d USING(document_id) WHERE d.file = :file"),
                    {"file": file},
                )
            ]
            db.execute(
                text("DELETE FROM documents WHERE file = :file OR document_id = :id"), {"file": file, "id": document_id}
            )
            m = asdict(meta)
            db.execute(
                text(_insert("documents", _DOC_COLUMNS)),
                {
                    "document_id": document_id,
                    "file": file,
                    **{k: m[k] for k in _DOC_FIELDS},
                    "pages": len(pages),
                    "size_bytes": size_bytes,
                    "ingested_at": time.time(),
                },
            )
            info = list(page_info) or [PageInfo()] * len(pages)
            if pages:
                db.execute(
                    text(_insert("pages", ("document_id", "number", "text", "label", "ocr_confidence"))),
                    [
                        {"document_id": document_id, "number": i + 1, "text": t, **asdict(p)}
                        for i, (t, p) in enumerate(zip(pages, info, strict=True))
                    ],
                )
            if chunks:
                db.execute(
                    text(_insert("chunks", _CHUNK_COLUMNS)),
                    [
                        {
                            **{k: getattr(c, k) for k in _CHUNK_FIELDS},
                            "document_id": document_id,
                            "heading_path": json.dumps(list(c.heading_path)),
                            "embed_text": embed_text,
                        }
                        for c, embed_text in chunks
                    ],
                )
            self._bump(db)
        new_ids = {c.chunk_id for c, _ in chunks}
        return [r for r in retired if r not in new_ids]

    def remove_document(self, document_id: str) -> list[str]:
        """Remove a document in one transaction; return the chunk ids it retired."""
        with self.transaction() as db:
            ids = [
                str(r[0])
                for r in db.execute(text("SELECT chunk_id FROM chunks WHERE document_id = :id"), {"id": document_id})
            ]
            n = db.execute(text("DELETE FROM documents WHERE document_id = :id"), {"id": document_id}).rowcount
            if n:
                self._bump(db)
        return ids if n else []

    @staticmethod
    def _bump(db: Connection) -> None:
        db.execute(
            text(
                "INSERT INTO meta(key, value) VALUES ('generation', '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
            )
        )

    # --- an admin's metadata edits ------------------------------------------------------------
    def edits_for(self, file: str) -> dict[str, Any]:
        """The metadata fields an admin set for `file`, which every later version of it keeps."""
        row = self._row("SELECT fields FROM edits WHERE file = :file", {"file": file})
        return dict(json.loads(row["fields"])) if row else {}

    def record_edits(self, file: str, fields: dict[str, Any], replace: bool = False) -> dict[str, Any]:
        """Add `fields` to the edits kept for `file` (a later edit of a field replaces the earlier), or with
        `replace` make them the only ones (none: forget them); return all of them."""
        with self.transaction() as db:
            if db.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE serialises this read-merge-write
                advisory_lock(db, EDITS_LOCK)
            if replace and not fields:
                db.execute(text("DELETE FROM edits WHERE file = :file"), {"file": file})
                return {}
            row = db.execute(text("SELECT fields FROM edits WHERE file = :file"), {"file": file}).first()
            merged = (json.loads(row[0]) if row and not replace else {}) | fields
            db.execute(
                text(
                    "INSERT INTO edits(file, fields, edited_at) VALUES (:file, :fields, :at) "
                    "ON CONFLICT(file) DO UPDATE SET fields = excluded.fields, edited_at = excluded.edited_at"
                ),
                {"file": file, "fields": json.dumps(merged, sort_keys=True), "at": time.time()},
            )
        return dict(merged)

    # --- chunks -------------------------------------------------------------------------------
    def chunk_ids(self) -> set[str]:
        """Every live chunk id."""
        return {str(r["chunk_id"]) for r in self._rows("SELECT chunk_id FROM chunks")}

    def iter_chunk_texts(self) -> Iterator[tuple[str, str]]:
        """(chunk id, embedded text) for every live chunk, in a stable order, read in batches."""
        yield from self._stream(text("SELECT chunk_id, embed_text FROM chunks ORDER BY document_id, ordinal"), {})

    def _stream(self, query: TextClause, params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Two text columns of every row, read in batches."""
        with self._engine.connect().execution_options(stream_results=True, yield_per=2000) as conn:
            yield from ((str(r[0]), str(r[1])) for r in conn.execute(query, params))

    def chunks_by_id(self, ids: Iterable[str]) -> dict[str, Chunk]:
        """Live chunks for the given ids; ids that are not live are simply absent."""
        ids = list(dict.fromkeys(ids))
        out: dict[str, Chunk] = {}
        query = text(_CHUNK_SELECT + "WHERE c.chunk_id IN :ids").bindparams(bindparam("ids", expanding=True))
        with self._snapshot() as conn:  # the batches see one state: never both versions of a document
            for start in range(0, len(ids), 900):
                for r in conn.execute(query, {"ids": ids[start : start + 900]}).mappings():
                    out[r["chunk_id"]] = row_to_chunk(r)
        return out

    def chunks_of_document(self, document_id: str) -> list[Chunk]:
        """A document's chunks in reading order."""
        rows = self._rows(_CHUNK_SELECT + "WHERE c.document_id = :id ORDER BY c.ordinal", {"id": document_id})
        return [row_to_chunk(r) for r in rows]

    def filter_mask_rows(self) -> list[Row]:
        """Per live chunk, the document fields that retrieval filters on."""
        return self._rows(
            "SELECT c.chunk_id, c.document_id, d.issuing_body, d.jurisdiction, d.doc_type, d.status, d.year "
            "FROM chunks c JOIN documents d USING(document_id)"
        )


def row_to_chunk(r: Row) -> Chunk:
    """A catalog row (chunk joined with its document) as a Chunk."""
    meta = DocumentMeta(**{k: r[k] for k in _DOC_FIELDS})
    return Chunk(
        **{k: r[k] for k in _CHUNK_FIELDS},
        document_id=r["document_id"],
        file=r["file"],
        title=r["title"],
        heading_path=tuple(json.loads(r["heading_path"])),
        meta=meta,
    )


class PinnedCatalog(Catalog):
    """A read-only view of a catalog holding only the given document versions, at a fixed generation.

    An evaluation run reads the corpus it was defined on through it: a document uploaded since is not
    in it, and every statistic derived from it (BM25's document frequencies and average length, the
    acronyms the documents define) counts the pinned versions only."""

    def __init__(self, live: Catalog, document_ids: Iterable[str]) -> None:
        self.location = live.location
        self._engine = live._engine
        self.only = frozenset(document_ids)
        self._params = {"only": sorted(self.only)}
        self._generation = live.generation()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        raise PermissionError("a pinned catalog is read-only: it is a snapshot for an evaluation run")
        yield  # pragma: no cover

    def close(self) -> None:
        """The live catalog owns the connections."""

    def generation(self) -> int:
        return self._generation

    def document_by_file(self, file: str) -> Row | None:
        row = super().document_by_file(file)
        return row if row is not None and row["document_id"] in self.only else None

    def document(self, document_id: str) -> Row | None:
        return super().document(document_id) if document_id in self.only else None

    def documents(self) -> list[Row]:
        return [r for r in super().documents() if r["document_id"] in self.only]

    def chunk_ids(self) -> set[str]:
        return {k for k, _ in self._pinned("SELECT chunk_id, document_id FROM chunks WHERE document_id IN :only")}

    def iter_chunk_texts(self) -> Iterator[tuple[str, str]]:
        yield from self._pinned(
            "SELECT chunk_id, embed_text FROM chunks WHERE document_id IN :only ORDER BY document_id, ordinal"
        )

    def _pinned(self, sql: str) -> Iterator[tuple[str, str]]:
        """`_stream` over the pinned versions (`:only`)."""
        query = text(sql).bindparams(bindparam("only", expanding=True, type_=String))
        return self._stream(query, self._params)

    def chunks_by_id(self, ids: Iterable[str]) -> dict[str, Chunk]:
        return {k: c for k, c in super().chunks_by_id(ids).items() if c.document_id in self.only}

    def chunks_of_document(self, document_id: str) -> list[Chunk]:
        return super().chunks_of_document(document_id) if document_id in self.only else []

    def filter_mask_rows(self) -> list[Row]:
        return [r for r in super().filter_mask_rows() if r["document_id"] in self.only]
