"""The catalog on SQLite and on PostgreSQL: what every process reads as live, switched atomically, migrated once.

What a team would notice: a catalog file from before migrations opens with its documents; on PostgreSQL,
readers on other connections never see a changed document twice or not at all while it is switched; several
processes starting at once on an empty database migrate it once, without errors; the sentence heads one process
embedded are not embedded again by another.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from alembic.script import ScriptDirectory

from assistant.heads import HeadVectors
from ingest.catalog import HEAD, MIGRATIONS, Catalog, current_revision, drop
from ingest.embedding import OnnxEmbedder
from ingest.pipeline import FileResult, Index
from ingest.settings import IngestSettings
from ingest.types import Chunk, DocumentMeta


def _chunks(document_id: str, n: int, word: str) -> list[tuple[Chunk, str]]:
    return [
        (
            Chunk(
                chunk_id=f"{document_id}-{i}",
                document_id=document_id,
                file="sop.txt",
                title="SOP",
                ordinal=i,
                section="1",
                heading_path=("Backups",),
                page_start=1,
                page_end=1,
                char_start=0,
                char_end=10,
                text=f"{word} {i}",
            ),
            f"SOP. {word} {i}",
        )
        for i in range(n)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    where: Path | str = (
        request.getfixturevalue("fresh_postgres") if request.param == "postgresql" else tmp_path / "catalog.sqlite3"
    )
    yield where
    drop(where)


def test_the_head_revision_in_code_is_the_newest_migration() -> None:
    """A catalog at HEAD opens without loading Alembic; HEAD must be the newest migration, or one is skipped."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


def test_a_catalog_written_before_migrations_opens_with_its_documents(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    with sqlite3.connect(path) as raw:  # the schema of catalogs written before Word sections, OCR and Alembic
        raw.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE documents (document_id TEXT PRIMARY KEY, file TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
                issuing_body TEXT NOT NULL, jurisdiction TEXT NOT NULL, doc_type TEXT NOT NULL, status TEXT NOT NULL,
                year INTEGER, source TEXT NOT NULL, licence TEXT NOT NULL, pages INTEGER NOT NULL,
                size_bytes INTEGER NOT NULL, ingested_at REAL NOT NULL);
            CREATE TABLE pages (document_id TEXT NOT NULL REFERENCES documents(document_id) ON DELETE CASCADE,
                number INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (document_id, number));
            CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, document_id TEXT NOT NULL REFERENCES
                documents(document_id) ON DELETE CASCADE, ordinal INTEGER NOT NULL, section TEXT NOT NULL,
                heading_path TEXT NOT NULL, page_start INTEGER NOT NULL, page_end INTEGER NOT NULL,
                char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
                embed_text TEXT NOT NULL);
            INSERT INTO meta VALUES ('generation', '4');
            INSERT INTO documents VALUES ('d1', 'sop.txt', 'SOP', 'Internal', 'EU', 'sop', 'final', 2020, '', '',
                1, 10, 1.0);
            INSERT INTO pages VALUES ('d1', 1, 'Backups are verified.');
            INSERT INTO chunks VALUES ('d1-0', 'd1', 0, '1', '[]', 1, 1, 0, 21, 'text', 'Backups are verified.',
                'SOP. Backups are verified.');
            """
        )
    catalog = Catalog(path)
    assert catalog.generation() == 4 and [r["file"] for r in catalog.documents()] == ["sop.txt"]
    assert catalog.page_text("d1", 1) == "Backups are verified." and catalog.cite("d1", 1) == "p. 1"
    assert catalog.chunks_by_id(["d1-0"])["d1-0"].text == "Backups are verified."
    assert current_revision(catalog._engine) == HEAD
    catalog.close()


def test_readers_elsewhere_see_exactly_one_version_while_a_document_is_switched(location: Path | str) -> None:
    """The attack is a race: readers on their own connections, one writer switching versions back and forth."""
    writer = Catalog(location)
    meta = DocumentMeta(title="SOP")
    writer.replace_document("sop.txt", "v0", meta, ["page"], 4, _chunks("v0", 30, "old"))
    readers = [Catalog(location) for _ in range(3)]
    seen: list[tuple[int, set[str]]] = []
    stop = threading.Event()

    def read(catalog: Catalog) -> None:
        while not stop.is_set():
            chunks = catalog.chunks_by_id(f"v{v}-{i}" for v in range(2) for i in range(30))
            seen.append((len(chunks), {c.document_id for c in chunks.values()}))

    threads = [threading.Thread(target=read, args=(c,)) for c in readers]
    for t in threads:
        t.start()
    for n in range(1, 41):
        v = f"v{n % 2}"
        writer.replace_document("sop.txt", v, meta, ["page"], 4, _chunks(v, 30, f"version {n}"))
    stop.set()
    for t in threads:
        t.join()
    assert len(seen) > 40
    assert all(count == 30 and len(versions) == 1 for count, versions in seen), [s for s in seen if s[0] != 30][:3]
    assert writer.generation() == 41 and all(r.generation() == 41 for r in readers)
    for c in (writer, *readers):
        c.close()


def test_processes_starting_at_once_on_an_empty_postgresql_migrate_it_once(
    fresh_postgres: str, embedder: OnnxEmbedder
) -> None:
    """As six services starting together: each opens the catalog, then the sentence-head cache beside it."""
    errors: list[BaseException] = []
    opened: list[Catalog] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        try:
            barrier.wait()
            opened.append(Catalog(fresh_postgres))
            HeadVectors(fresh_postgres, "all-MiniLM-L6-v2", embedder.encode).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(opened) == 6
    opened[0].set_meta({"embed_model": "m"})
    assert {c.get_meta("embed_model") for c in opened} == {"m"}
    for c in opened:
        c.close()
    drop(fresh_postgres)


def test_heads_one_process_embedded_are_not_embedded_again_by_another(
    location: Path | str, embedder: OnnxEmbedder
) -> None:
    Catalog(location).close()  # the service opens its index, and so the catalog's schema, first
    counts = {"first": 0, "second": 0}

    def counting(name: str):  # type: ignore[no-untyped-def]
        def encode(texts: list[str]) -> np.ndarray:
            counts[name] += len(texts)
            return embedder.encode(texts)

        return encode

    texts = ["Audit trails need to be regularly reviewed.", "A new independent test dataset is required."]
    heads = location if isinstance(location, str) else location.with_name("heads.sqlite3")
    first = HeadVectors(heads, "all-MiniLM-L6-v2", counting("first"))
    assert first.warm(texts) == 2
    second = HeadVectors(heads, "all-MiniLM-L6-v2", counting("second"))
    np.testing.assert_allclose(second.vectors(texts), embedder.encode(texts), atol=1e-5)
    assert counts == {"first": 2, "second": 0} and len(second) == 2
    first.close()
    second.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_second_writer_never_strips_the_vectors_of_a_file_being_switched_in(
    backend: str, tmp_path: Path, embedder: OnnxEmbedder, request: pytest.FixtureRequest
) -> None:
    """The race: while one writer ingests, another (`regassist ingest` elsewhere, or a worker) starts and
    reconciles, deleting vectors the catalog does not hold yet: those of the file just embedded. Checked at
    the moment each file is switched in, when a question could first retrieve it."""
    url = request.getfixturevalue("fresh_postgres") if backend == "postgresql" else None
    settings = IngestSettings(data_dir=tmp_path / "data", database_url=url)
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i in range(12):
        (folder / f"sop-{i:02d}.txt").write_text(
            f"# Backup SOP {i}\n\nBackups of system {i} are verified every {i + 1} months by the quality unit.\n"
        )
    writer, other = Index(settings, embedder=embedder), Index(settings, embedder=embedder)
    stripped: list[str] = []

    def at_switch(result: FileResult) -> None:
        if result.outcome == "added" and result.document_id is not None:
            ids = {c.chunk_id for c in writer.catalog.chunks_of_document(result.document_id)}
            if not ids <= writer.vectors.ids():
                stripped.append(result.file)

    stop = threading.Event()
    meddled: list[float] = []  # when each of the other writer's runs started

    def meddle() -> None:
        while not stop.is_set():
            meddled.append(time.monotonic())
            other.ingest([])

    thread = threading.Thread(target=meddle)
    thread.start()
    try:
        report = writer.ingest([folder], progress=at_switch)
        finished = time.monotonic()
    finally:
        stop.set()
        thread.join()
    assert report.count("added") == 12 and meddled and meddled[0] < finished  # the two overlapped
    assert stripped == [], f"switched in without their vectors: {stripped}"
    assert writer.vectors.ids() == writer.catalog.chunk_ids()
    writer.close()
    other.close()
    if url:
        drop(url)


def test_a_desk_already_on_postgresql_keeps_its_documents_when_the_catalog_moves_there(
    tmp_path: Path, embedder: OnnxEmbedder, fresh_postgres: str
) -> None:
    """Upgrading: the catalog was a file in the data folder while the desk was on PostgreSQL. The first start
    with the catalog in PostgreSQL must not find nothing live, or its first write deletes every vector."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i in range(3):
        (folder / f"sop-{i}.txt").write_text(f"# SOP {i}\n\nRecords of line {i} are retained for {i + 5} years.\n")
    before = Index(IngestSettings(data_dir=tmp_path / "data"), embedder=embedder)
    before.ingest([folder])
    before.catalog.record_edits("sop-1.txt", {"issuing_body": "QA"})
    generation, chunk_ids = before.catalog.generation(), before.catalog.chunk_ids()
    before.close()

    after = Index(IngestSettings(data_dir=tmp_path / "data", database_url=fresh_postgres), embedder=embedder)
    assert after.catalog.generation() == generation and after.catalog.chunk_ids() == chunk_ids
    assert after.catalog.edits_for("sop-1.txt") == {"issuing_body": "QA"}
    assert after.ingest([]).results == [] and after.vectors.ids() == chunk_ids  # no vector taken for an orphan
    assert (tmp_path / "data" / "catalog.sqlite3.imported").is_file()
    assert not (tmp_path / "data" / "catalog.sqlite3").exists()
    after.close()
    drop(fresh_postgres)
