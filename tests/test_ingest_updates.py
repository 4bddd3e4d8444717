"""Re-ingest, replace and remove keep every index in step, in both Chroma modes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.embedding import HashingEmbedder, OnnxEmbedder
from ingest.errors import IndexMismatch
from ingest.pipeline import Index
from ingest.settings import IngestSettings

from .conftest import CORPUS

OLD = "Backups of the laboratory system are verified every 90 days by the quality unit."
NEW = "Backups of the laboratory system are verified every 30 days by an independent reviewer."


class CountingEmbedder:
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, inner: OnnxEmbedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.runtime = inner.runtime
        self.precision = inner.precision
        self.calls = 0

    def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.calls += len(texts)
        return self.inner.encode(texts)


@pytest.fixture(params=["directory", "server"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> IngestSettings:
    url = request.getfixturevalue("chroma_server") if request.param == "server" else None
    return IngestSettings(data_dir=tmp_path / "data", chroma_url=url, collection=f"t{abs(hash(tmp_path)) % 10**8}")


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(CORPUS / "EC_EU-GMP-Annex11_computerised-systems_2011.pdf", folder)
    (folder / "lab-sop.txt").write_text(f"Laboratory backup procedure\n\n{OLD}\n")
    return folder


def _live_everywhere(index: Index) -> set[str]:
    live = index.catalog.chunk_ids()
    assert index.vectors.ids() == live
    index.refresh_lexical()
    assert set(index.lexical._ids) == live
    return live


def _found(index: Index, phrase: str) -> tuple[bool, bool]:
    """Whether the phrase's chunk is returned by dense search and by BM25 (live chunks only)."""
    vec = index.embedder.encode([phrase])[0]
    live = index.catalog.chunks_by_id([cid for cid, _ in index.vectors.query(vec, 5)])
    dense = any(phrase in c.text for c in live.values())
    lex_ids = [cid for cid, _ in index.lexical.query(phrase, 5)]
    lexical = any(phrase in c.text for c in index.catalog.chunks_by_id(lex_ids).values())
    return dense, lexical


def test_reingest_unchanged_does_no_embedding(settings: IngestSettings, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = _folder(tmp_path)
    counting = CountingEmbedder(embedder)
    index = Index(settings, embedder=counting)  # type: ignore[arg-type]
    first = index.ingest([folder])
    assert first.count("added") == 2 and counting.calls == first.chunks
    calls = counting.calls
    second = index.ingest([folder])
    assert second.count("unchanged") == 2 and second.count("added") == 0
    assert counting.calls == calls
    _live_everywhere(index)


def test_changed_file_replaces_its_chunks_everywhere(settings: IngestSettings, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = _folder(tmp_path)
    index = Index(settings, embedder=embedder)
    index.ingest([folder])
    before = _live_everywhere(index)
    assert _found(index, OLD) == (True, True)
    (folder / "lab-sop.txt").write_text(f"Laboratory backup procedure\n\n{NEW}\n")
    report = index.ingest([folder])
    assert [r.outcome for r in report.results if r.file == "lab-sop.txt"] == ["updated"]
    after = _live_everywhere(index)
    assert before != after and len(after) == len(before)
    assert _found(index, NEW) == (True, True)
    assert _found(index, OLD) == (False, False)


def test_replacement_switches_in_one_step(
    settings: IngestSettings,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Just before and just after the catalog switch, exactly one version is retrievable."""
    folder = _folder(tmp_path)
    index = Index(settings, embedder=embedder)
    index.ingest([folder])
    (folder / "lab-sop.txt").write_text(f"Laboratory backup procedure\n\n{NEW}\n")
    seen: list[tuple[bool, bool]] = []
    original = index.catalog.replace_document

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        # The new vectors are already in Chroma here, but not live: only the old version is found.
        seen.append((_found(index, OLD)[0], _found(index, NEW)[0]))
        result = original(*args, **kwargs)
        seen.append((_found(index, OLD)[0], _found(index, NEW)[0]))
        return result

    monkeypatch.setattr(index.catalog, "replace_document", spy)
    index.ingest([folder / "lab-sop.txt"])
    assert seen == [(True, False), (False, True)]


def test_removed_document_leaves_every_index(settings: IngestSettings, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = _folder(tmp_path)
    index = Index(settings, embedder=embedder)
    index.ingest([folder])
    doc = index.catalog.document_by_file("lab-sop.txt")
    assert doc is not None
    n = index.remove(doc["document_id"][:10])
    assert n == 1
    live = _live_everywhere(index)
    assert index.catalog.document_by_file("lab-sop.txt") is None
    assert live and _found(index, OLD) == (False, False)
    # Removing the file from the folder and pruning does the same for the other document.
    (folder / "EC_EU-GMP-Annex11_computerised-systems_2011.pdf").unlink()
    annex_chunks = set(live)
    report = index.ingest([folder], prune=True)
    # The pruned Annex 11 leaves every index; lab-sop.txt, still in the folder, is ingested again.
    assert (report.count("removed"), report.count("added")) == (1, 1)
    now = _live_everywhere(index)
    assert {d["file"] for d in index.catalog.documents()} == {"lab-sop.txt"}
    assert not (now & annex_chunks)


def test_index_refuses_another_embedding_model(small_settings: IngestSettings, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    index = Index(small_settings, embedder=embedder)
    index.ingest([_folder(tmp_path)])
    index.close()
    with pytest.raises(IndexMismatch, match="--rebuild"):
        Index(small_settings, embedder=HashingEmbedder())  # type: ignore[arg-type]


def test_index_refuses_another_chunk_size(small_settings: IngestSettings, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    # Chunks cut at one size beside chunks cut at another would make one index answer two ways.
    index = Index(small_settings, embedder=embedder)
    index.ingest([_folder(tmp_path)])
    index.close()
    other = small_settings.model_copy(update={"chunk_max_tokens": small_settings.chunk_max_tokens + 50})
    with pytest.raises(IndexMismatch, match=r"chunker_version=.*--rebuild"):
        Index(other, embedder=embedder)
    Index(small_settings, embedder=embedder).close()  # the settings it was built with still open it
