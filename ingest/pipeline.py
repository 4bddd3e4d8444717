"""Ingest wiring: files become live chunks in the catalog, vectors in Chroma and terms in BM25.

Order of writes, chosen so that a kill at any point leaves a consistent store:
1. new vectors are upserted to Chroma (not yet live: the catalog does not list them);
2. the catalog switches the file to its new chunks in one transaction (the moment of change);
3. retired vectors are deleted, and the lexical index is rebuilt for the new generation.
`reconcile()` runs before every ingest and finishes whatever step 3 a killed run left undone.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar

from ingest.catalog import Catalog, PinnedCatalog
from ingest.catalog import drop as drop_catalog
from ingest.chunking import chunker_identity, document_id
from ingest.embedding import EncodingEmbedder, make_embedder, runtime_of
from ingest.errors import IndexMismatch, IngestError, NotFound
from ingest.lexical import LexicalIndex
from ingest.loaders import SUPPORTED, LoadOptions
from ingest.manifest import MANIFEST_NAME, load_manifest
from ingest.settings import IngestSettings
from ingest.types import Chunk, DocumentMeta
from ingest.vectorstore import LEGACY_RUNTIME, ChromaStore, HNSWParams, IndexIdentity, PinnedVectors

if TYPE_CHECKING:
    from ingest.parsing import Parsed

# Files that describe a corpus folder rather than belong to it.
_NOT_DOCUMENTS = frozenset({MANIFEST_NAME, "SOURCES.md", "README.md"})
Outcome = Literal["added", "updated", "unchanged", "failed", "removed"]


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    file: str
    outcome: Outcome
    document_id: str | None = None
    chunks: int = 0
    pages: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()  # pages read but not indexed (an OCR page below the confidence floor)


@dataclass
class IngestReport:
    """The closing summary of an ingest run."""

    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    parse_seconds: float = 0.0
    skipped: dict[str, list[str]] = field(default_factory=dict)  # why -> paths, from walking folders

    def count(self, outcome: Outcome) -> int:
        """How many files ended with `outcome`."""
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def chunks(self) -> int:
        """Chunks written by this run."""
        return sum(r.chunks for r in self.results if r.outcome in ("added", "updated"))

    @property
    def pages(self) -> int:
        """Pages read by this run."""
        return sum(r.pages for r in self.results if r.outcome in ("added", "updated"))


def model_dimension(backend: str, model: str) -> int:
    """The embedding dimension, read from the model's files without loading it."""
    if backend == "hashing":
        return 64
    from ingest.model_files import resolve_model_path

    pooling = resolve_model_path(model) / "1_Pooling" / "config.json"
    try:
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    except (OSError, KeyError, ValueError):
        return int(json.loads((resolve_model_path(model) / "config.json").read_text())["hidden_size"])


def _chroma_metadata(c: Chunk) -> dict[str, Any]:
    m = c.meta
    return {
        "document_id": c.document_id,
        "file": c.file,
        "page_start": c.page_start,
        "page_end": c.page_end,
        "issuing_body": m.issuing_body,
        "jurisdiction": m.jurisdiction,
        "doc_type": m.doc_type,
        "status": m.status,
        "year": m.year if m.year is not None else -1,
    }


P = ParamSpec("P")
R = TypeVar("R")


def _one_writer(method: Callable[Concatenate[Index, P], R]) -> Callable[Concatenate[Index, P], R]:
    """Run an index write as the index's only writer (`Catalog.writer`); a write inside one goes straight on."""

    @functools.wraps(method)
    def write(self: Index, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if getattr(self._writing, "held", False):
            return method(self, *args, **kwargs)
        with self.catalog.writer():
            self._writing.held = True
            try:
                return method(self, *args, **kwargs)
            finally:
                self._writing.held = False

    return write


log = logging.getLogger("regassist.ingest")

_FOLDER_LOCKS: dict[Path, threading.Lock] = {}
_FOLDER_LOCKS_GUARD = threading.Lock()


def _folder_lock(folder: Path) -> threading.Lock:
    with _FOLDER_LOCKS_GUARD:
        return _FOLDER_LOCKS.setdefault(folder.resolve(), threading.Lock())


@dataclass(frozen=True)
class Walk:
    """The files an ingest will read, and what walking the folders left out, by reason."""

    files: list[Path]
    skipped: dict[str, list[str]]


def _is_data_folder(folder: Path, data_dir: Path | None) -> bool:
    if data_dir is not None and folder.resolve() == data_dir.resolve():
        return True
    # Another regassist data folder (a copy, or one set by REGASSIST_DATA_DIR for another index).
    return (folder / "catalog.sqlite3").is_file() and (folder / "lexical").is_dir()


def walk(paths: Iterable[Path], data_dir: Path | None = None) -> Walk:
    """Files named, and supported files under folders named, as a person expects a folder to be read.

    Under a folder, hidden files and folders, regassist's own data folder, the corpus description
    files and files of unsupported types are skipped and counted by reason. A file named explicitly is
    always read (an unsupported one then fails with a message that says so).
    """
    files: list[Path] = []
    skipped: dict[str, list[str]] = {}

    def skip(reason: str, path: Path) -> None:
        skipped.setdefault(reason, []).append(str(path))

    def visit(folder: Path) -> None:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                skip("hidden", entry)
            elif entry.is_dir():
                if _is_data_folder(entry, data_dir):
                    skip("regassist data folder", entry)
                else:
                    visit(entry)
            elif not entry.is_file():
                skip("not a regular file", entry)
            elif entry.name in _NOT_DOCUMENTS:
                skip("corpus description", entry)
            elif entry.suffix.lower() not in SUPPORTED:
                skip(f"type {entry.suffix.lower() or '(none)'}", entry)
            else:
                files.append(entry)

    for p in paths:
        if p.is_dir():
            if _is_data_folder(p, data_dir):
                skip("regassist data folder", p)
            else:
                visit(p)
        else:
            files.append(p)
    return Walk(files, skipped)


def expand_paths(paths: Iterable[Path], data_dir: Path | None = None) -> list[Path]:
    """The files `walk` would read."""
    return walk(paths, data_dir).files


class Index:
    """The whole index: catalog, vectors and lexical terms, kept in step."""

    def __init__(self, settings: IngestSettings, embedder: EncodingEmbedder | None = None) -> None:
        self.settings = settings
        self.data_dir = settings.data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._embedder = embedder
        dim = (
            embedder.dimension
            if embedder is not None
            else model_dimension(settings.embed_backend, settings.embed_model)
        )
        name = embedder.name if embedder is not None else settings.embed_model
        self.identity = IndexIdentity(
            embed_model=name,
            dimension=dim,
            chunker_version=chunker_identity(settings.chunk_max_tokens, settings.embed_context),
            embed_runtime=embedder.runtime if embedder is not None else runtime_of(settings.embed_backend),
            embed_precision=embedder.precision if embedder is not None else settings.embed_precision,
        )
        self.catalog = Catalog(settings.catalog_location)
        self._writing = threading.local()
        if not isinstance(settings.catalog_location, Path):
            self._adopt_catalog_file()
        self._check_catalog_identity()
        self.vectors = ChromaStore(
            settings.collection,
            self.identity,
            path=None if settings.chroma_url else self.data_dir / "chroma",
            url=settings.chroma_url,
            hnsw=HNSWParams(settings.hnsw_max_neighbors, settings.hnsw_ef_construction, settings.hnsw_ef_search),
        )
        self.lexical = LexicalIndex(self.data_dir / "lexical")

    def _adopt_catalog_file(self) -> None:
        """Move a catalog kept in the data folder into the PostgreSQL catalog, once.

        A desk already on PostgreSQL kept its catalog in `catalog.sqlite3` until the catalog moved there too.
        Started on an empty PostgreSQL catalog, it would see nothing live: approved answers would go back to
        review and the next write would delete every vector as an orphan. So the file is copied over, under
        the writer lock, and renamed `catalog.sqlite3.imported` (kept, not deleted). A file beside a
        PostgreSQL catalog that already holds documents is left alone, and not read."""
        path = self.data_dir / "catalog.sqlite3"
        if not path.is_file():
            return
        with self.catalog.writer():
            if self.catalog.generation() or self.catalog.documents():
                log.warning("%s is not used: the catalog in PostgreSQL holds documents already", path)
                return
            n = self.catalog.import_file(path)
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                part.rename(part.with_name(f"catalog.sqlite3.imported{suffix}"))
        log.warning("copied %d documents from %s into the PostgreSQL catalog", n, path)

    # --- identity ---------------------------------------------------------------------------
    def _check_catalog_identity(self) -> None:
        want = {k: str(v) for k, v in self.identity.as_metadata().items()}
        have = {k: self.catalog.get_meta(k) for k in want}
        if all(v is None for v in have.values()):
            self.catalog.set_meta(want)
            return
        if have["embed_model"] is not None and have["embed_runtime"] is None:
            have.update(LEGACY_RUNTIME)
        for key, value in want.items():
            if have[key] != value:
                hint = " (REGASSIST_EMBED_BACKEND=sentence-transformers for torch)" if key == "embed_runtime" else ""
                raise IndexMismatch(
                    f"The index in {self.data_dir} was built with {key}={have[key]!r} but {key}={value!r} is "
                    "configured. Run `regassist ingest --rebuild PATH...` to rebuild it, or configure the model "
                    f"and chunker it was built with{hint}."
                )

    @classmethod
    def wipe(cls, settings: IngestSettings) -> None:
        """Delete the catalog, the lexical index and the collection, for a rebuild."""
        import chromadb
        from chromadb.config import Settings

        location = settings.catalog_location
        if not isinstance(location, Path) or location.is_file():  # not while another process writes it
            catalog = Catalog(location)
            with catalog.writer():
                catalog.close()
                drop_catalog(location)
        else:
            drop_catalog(location)
        shutil.rmtree(settings.data_dir / "lexical", ignore_errors=True)
        if settings.chroma_url:
            from urllib.parse import urlparse

            u = urlparse(settings.chroma_url)
            client = chromadb.HttpClient(
                host=u.hostname or "127.0.0.1", port=u.port or 8000, settings=Settings(anonymized_telemetry=False)
            )
            with contextlib.suppress(Exception):
                client.delete_collection(settings.collection)
        else:
            shutil.rmtree(settings.data_dir / "chroma", ignore_errors=True)

    @property
    def embedder(self) -> EncodingEmbedder:
        """The embedding model, loaded on first use (an unchanged re-ingest never loads it)."""
        if self._embedder is None:
            s = self.settings
            self._embedder = make_embedder(
                s.embed_backend, s.embed_model, s.embed_batch_size, s.embed_precision, s.model_cache
            )
        return self._embedder

    # --- consistency ------------------------------------------------------------------------
    @_one_writer
    def reconcile(self) -> dict[str, int]:
        """Bring vectors and the lexical index in line with the catalog after an interrupted run."""
        live = self.catalog.chunk_ids()
        stored = self.vectors.ids()
        orphans = sorted(stored - live)
        missing = sorted(live - stored)
        if orphans:
            self.vectors.delete(orphans)
        if missing:
            by_id = self.catalog.chunks_by_id(missing)
            texts = dict(self.catalog.iter_chunk_texts())
            vecs = self.embedder.encode([texts[i] for i in missing])
            self.vectors.upsert(missing, vecs, [_chroma_metadata(by_id[i]) for i in missing])
        rebuilt = self.refresh_lexical()
        return {"orphans_removed": len(orphans), "vectors_restored": len(missing), "lexical_rebuilt": int(rebuilt)}

    def refresh_lexical(self) -> bool:
        """Rebuild the lexical index if the catalog changed since it was built; load it otherwise.

        Every Index on one folder (the service's query side and its worker thread, other service processes
        and `regassist worker`s on this machine) takes the folder's lock, a thread lock and then a lock file,
        so the new generation is built once and the others load it.
        """
        from filelock import FileLock

        gen = self.catalog.generation()
        if self.lexical.generation == gen:
            return False
        with _folder_lock(self.data_dir), FileLock(self.data_dir / "lexical.lock"):
            gen = self.catalog.generation()
            if self.lexical.generation == gen:
                return False
            if self.lexical.stored_generation() == gen and self.lexical.load():
                return False
            self.lexical.build(self.catalog.iter_chunk_texts(), gen)
        return True

    def pinned(self, document_ids: Collection[str], lexical_dir: Path) -> PinnedIndex:
        """A read-only view of these document versions only, for an evaluation run (see PinnedIndex)."""
        return PinnedIndex(self, document_ids, lexical_dir)

    # --- ingest -----------------------------------------------------------------------------
    @_one_writer
    def ingest(
        self,
        paths: Iterable[Path],
        progress: Callable[[FileResult], None] | None = None,
        prune: bool = False,
        metas: Mapping[str, DocumentMeta] | None = None,
        force: Collection[str] = (),
    ) -> IngestReport:
        """Ingest files and folders; per-file errors are reported and the rest of the batch goes on.

        `metas` gives a file's metadata in place of its folder's manifest; a file named in `force` is
        indexed again even when its bytes are unchanged (an admin's metadata edit changes its titles, which
        are part of what is embedded). An admin's recorded edits (`Catalog.edits_for`) win over both."""
        t0 = time.perf_counter()
        paths = list(paths)
        self.reconcile()
        report = IngestReport()
        walked = walk(paths, self.data_dir)
        files = walked.files
        report.skipped = walked.skipped
        manifests: dict[Path, dict[str, DocumentMeta]] = {}
        todo: list[tuple[Path, bytes, DocumentMeta | None, str | None]] = []
        batch: dict[str, str] = {}
        for f in files:
            try:
                data = f.read_bytes()
            except OSError as exc:
                self._record(
                    report, FileResult(f.name, "failed", error=f"{f.name}: cannot read ({exc.strerror})"), progress
                )
                continue
            doc_id = document_id(data)
            existing = self.catalog.document_by_file(f.name)
            if existing is not None and existing["document_id"] == doc_id and f.name not in force:
                self._record(report, FileResult(f.name, "unchanged", doc_id, pages=existing["pages"]), progress)
                continue
            # The same bytes under another name would displace the original (one document id, one row): its
            # name and metadata would be lost, and answers citing it would point at a file that is not there.
            twin = self.catalog.document(doc_id)
            other = twin["file"] if twin is not None else batch.get(doc_id)
            if other is not None and other != f.name:
                error = f"{f.name}: the same bytes as {other}, which is indexed already; not indexed twice"
                self._record(report, FileResult(f.name, "failed", error=error), progress)
                continue
            batch[doc_id] = f.name
            if f.parent not in manifests:
                try:
                    manifests[f.parent] = load_manifest(f.parent)
                except IngestError as exc:
                    manifests[f.parent] = {}
                    self._record(report, FileResult(MANIFEST_NAME, "failed", error=str(exc)), progress)
            meta = metas[f.name] if metas and f.name in metas else manifests[f.parent].get(f.name)
            todo.append((f, data, meta, None if existing is None else existing["document_id"]))

        if todo:
            # The embedder first, before the parse worker starts: a first run makes the ONNX file in a child
            # that imports torch, and that child alongside the parse worker took the process tree past 1 GB.
            _ = self.embedder
        for item, parsed_or_error in self._parse_all(todo):
            f, _data, _meta, old_id = item
            if isinstance(parsed_or_error, IngestError):
                self._record(report, FileResult(f.name, "failed", error=str(parsed_or_error)), progress)
                continue
            parsed = parsed_or_error
            report.parse_seconds += parsed.seconds
            te = time.perf_counter()
            ids = [c.chunk_id for c, _ in parsed.chunks]
            vecs = self.embedder.encode([t for _, t in parsed.chunks])
            report.embed_seconds += time.perf_counter() - te
            self.vectors.upsert(ids, vecs, [_chroma_metadata(c) for c, _ in parsed.chunks])
            retired = self.catalog.replace_document(
                parsed.file,
                parsed.document_id,
                parsed.meta,
                parsed.pages,
                parsed.size_bytes,
                parsed.chunks,
                parsed.page_info,
            )
            self.vectors.delete(retired)
            outcome: Outcome = "updated" if old_id else "added"
            self._record(
                report,
                FileResult(
                    parsed.file,
                    outcome,
                    parsed.document_id,
                    len(parsed.chunks),
                    len(parsed.pages),
                    warnings=parsed.warnings,
                ),
                progress,
            )
        if prune:
            seen = {f.name for f in files}
            for row in self.catalog.documents():
                if row["file"] not in seen:
                    self.remove(row["document_id"], refresh=False)
                    self._record(report, FileResult(row["file"], "removed", row["document_id"]), progress)
        self.refresh_lexical()
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _record(report: IngestReport, result: FileResult, progress: Callable[[FileResult], None] | None) -> None:
        report.results.append(result)
        if progress is not None:
            progress(result)

    def _parse_all(
        self, todo: list[tuple[Path, bytes, DocumentMeta | None, str | None]]
    ) -> Iterator[tuple[tuple[Path, bytes, DocumentMeta | None, str | None], Parsed | IngestError]]:
        """Parse files in a worker process while the caller embeds, so parsing hides behind embedding."""
        # Imported here: loading and cleaning (pypdf) is only needed when something is ingested.
        from ingest.parsing import exit_with_parent, safe_parse

        s = self.settings
        options = LoadOptions(s.max_pages, s.ocr_min_confidence, s.ocr_dpi, s.ocr_lang)
        args = [
            (
                str(f),
                data,
                meta,
                s.max_pages,
                s.chunk_max_tokens,
                s.embed_model,
                s.embed_context,
                options,
                self.catalog.edits_for(f.name),
            )
            for f, data, meta, _ in todo
        ]
        if len(todo) <= 1:
            for item, a in zip(todo, args, strict=True):
                yield item, safe_parse(*a)
            return
        # spawn, not fork: Chroma and torch run native threads that a forked child would inherit broken.
        with ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            futures: list[Future[Parsed | IngestError]] = [pool.submit(safe_parse, *a) for a in args]
            for item, fut in zip(todo, futures, strict=True):
                yield item, fut.result()

    # --- removal and listing ------------------------------------------------------------------
    @_one_writer
    def remove(self, document_id: str, refresh: bool = True) -> int:
        """Remove a document from every index; return how many chunks it had."""
        self.reconcile()
        ids = self.catalog.remove_document(document_id)
        if not ids and self.catalog.document(document_id) is None:
            matches = [r for r in self.catalog.documents() if r["document_id"].startswith(document_id)]
            if len(matches) == 1:
                return self.remove(matches[0]["document_id"], refresh)
            if not ids:
                raise NotFound(f"No document with id '{document_id}'; `regassist docs` lists them")
        self.vectors.delete(ids)
        if refresh:
            self.refresh_lexical()
        return len(ids)

    def close(self) -> None:
        """Release the catalog connection."""
        self.catalog.close()


class PinnedIndex(Index):
    """A read-only view of some document versions of an index, for an evaluation run.

    Its catalog, its dense search and its own BM25 index (built in `lexical_dir`) hold nothing else, so a
    document uploaded since changes neither what is found nor how it is scored. It shares the live index's
    connections and embedder, and refuses every write: reconciling a view against the whole collection
    would delete the vectors of every document outside it."""

    def __init__(self, live: Index, document_ids: Collection[str], lexical_dir: Path) -> None:
        missing = sorted(d for d in document_ids if live.catalog.document(d) is None)
        if missing:
            raise NotFound(f"Document versions not in the index: {', '.join(missing)}")
        self.__dict__.update(live.__dict__)
        self.catalog = PinnedCatalog(live.catalog, document_ids)
        self.vectors = PinnedVectors(live.vectors, sorted(document_ids))
        self.lexical = LexicalIndex(lexical_dir)
        self.lexical.build(self.catalog.iter_chunk_texts(), self.catalog.generation())

    def _read_only(self) -> PermissionError:
        return PermissionError("a pinned index is read-only: it is a snapshot for an evaluation run")

    def reconcile(self) -> dict[str, int]:
        raise self._read_only()

    def refresh_lexical(self) -> bool:
        return False  # its BM25 index is of the pinned versions, built once

    def ingest(self, *args: Any, **kwargs: Any) -> IngestReport:
        raise self._read_only()

    def remove(self, document_id: str, refresh: bool = True) -> int:
        raise self._read_only()

    def close(self) -> None:
        """The live index owns the connections."""
