"""Load, clean and chunk one file. Runs in a worker process, so it imports nothing heavy (no Chroma, no torch)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_id, chunk_pages, document_id
from ingest.errors import IngestError
from ingest.loaders import LoadOptions, load
from ingest.manifest import infer_meta
from ingest.model_files import MODEL_MAX_TOKENS, token_counter
from ingest.types import Chunk, DocumentMeta, PageInfo


@dataclass(frozen=True)
class Parsed:
    file: str
    document_id: str
    meta: DocumentMeta
    pages: tuple[str, ...]
    size_bytes: int
    chunks: tuple[tuple[Chunk, str], ...]
    seconds: float
    page_info: tuple[PageInfo, ...] = ()
    warnings: tuple[str, ...] = ()


def embed_text_for(chunk: Chunk, count: Callable[[str], int], budget: int) -> str:
    """The text that is embedded and BM25-indexed: title and section path, then the chunk.

    The context prefix is shortened word by word until the whole fits the model's input, so the
    chunk's own text is never cut.
    """
    prefix = chunk.title
    if chunk.heading_path:
        prefix += " — " + " > ".join(chunk.heading_path)
    words = prefix.split()
    while words and count(" ".join(words)) > budget:
        words = words[: max(0, len(words) - 3)]
    return (" ".join(words) + "\n" + chunk.text) if words else chunk.text


def parse_file(
    path: str,
    data: bytes,
    meta: DocumentMeta | None,
    max_pages: int,
    max_tokens: int,
    model: str,
    embed_context: bool,
    options: LoadOptions | None = None,
    edits: dict[str, Any] | None = None,
) -> Parsed:
    """Load, clean and chunk one file (runs in a worker process); `edits` are an admin's metadata
    corrections, which win over the manifest and over what the file says of itself."""
    t0 = time.perf_counter()
    p = Path(path)
    raw = load(p, data, max_pages=max_pages, options=options)
    first = next((t for t in raw.pages if t.strip()), "")
    meta = meta or infer_meta(p, first, raw.pdf_title, date=raw.date, site=raw.site)
    if edits:
        meta = dataclasses.replace(meta, **edits)
    count = token_counter(model)
    doc_id = document_id(data)
    spans = chunk_pages(raw.pages, count, max_tokens=max_tokens, is_text_file=raw.is_text_file)
    if not spans:
        raise IngestError(p.name, "no text to index after cleaning")
    budget = MODEL_MAX_TOKENS - max_tokens - 1
    chunks: list[tuple[Chunk, str]] = []
    for i, s in enumerate(spans):
        c = Chunk(
            chunk_id=chunk_id(doc_id, s),
            document_id=doc_id,
            file=p.name,
            title=meta.title,
            ordinal=i,
            section=s.section,
            heading_path=s.heading_path,
            page_start=s.page_start,
            page_end=s.page_end,
            char_start=s.char_start,
            char_end=s.char_end,
            text=s.text,
            kind=s.kind,  # type: ignore[arg-type]
            meta=meta,
        )
        chunks.append((c, embed_text_for(c, count, budget) if embed_context else c.text))
    return Parsed(
        p.name,
        doc_id,
        meta,
        raw.pages,
        len(data),
        tuple(chunks),
        time.perf_counter() - t0,
        raw.page_info,
        raw.warnings,
    )


def safe_parse(*args: Any) -> Parsed | IngestError:
    try:
        return parse_file(*args)
    except IngestError as exc:
        return exc
    except Exception as exc:
        return IngestError(Path(args[0]).name, f"could not be read ({type(exc).__name__}: {exc})")


def exit_with_parent(parent: int) -> None:
    """Worker initializer: end this process when the ingest that started it is gone.

    A SIGKILLed ingest cannot stop its worker, which would otherwise wait on its queue for ever.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
