"""Bad input: each file gets a clear error naming it; the rest of the batch is ingested; nothing half-written."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader, PdfWriter

from ingest.embedding import HashingEmbedder
from ingest.pipeline import Index
from ingest.settings import IngestSettings

from .pdfmaker import make_pdf

GOOD_LINES = ["1. Purpose", "Computerised systems should be validated before use in GMP activities."]


def _encrypted(password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([GOOD_LINES]))))
    writer.encrypt(user_password=password, algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _batch(folder: Path) -> None:
    folder.mkdir()
    (folder / "good.pdf").write_bytes(make_pdf([GOOD_LINES]))
    (folder / "corrupt.pdf").write_bytes(make_pdf([GOOD_LINES])[:300])
    (folder / "locked.pdf").write_bytes(_encrypted("secret"))
    (folder / "open-encrypted.pdf").write_bytes(_encrypted(""))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "garbage.pdf").write_bytes(bytes(range(256)) * 40)
    (folder / "latin1.txt").write_bytes("Données validées à 100 % selon l'annexe.".encode("latin-1"))
    (folder / "notes.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (folder / "scan.pdf").write_bytes(make_pdf([[], [], []]))


def test_each_bad_file_is_reported_and_the_rest_ingested(tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    _batch(folder)
    index = Index(IngestSettings(data_dir=tmp_path / "data"), embedder=HashingEmbedder())  # type: ignore[arg-type]
    report = index.ingest([folder])
    errors = {r.file: r.error for r in report.results if r.outcome == "failed"}
    assert {r.file for r in report.results if r.outcome == "added"} == {"good.pdf", "open-encrypted.pdf"}
    expected = {
        "corrupt.pdf": "corrupt or unreadable PDF",
        "locked.pdf": "encrypted with a password",
        "empty.txt": "file is empty",
        "garbage.pdf": "not a PDF",
        "latin1.txt": "not valid UTF-8",
        "notes.docx": "corrupt or unreadable Word file",
        # Three blank pages: OCR runs on each (no text layer) and finds nothing to index.
        "scan.pdf": "no text layer on its 3 page(s), and OCR found no text",
    }
    assert set(errors) == set(expected)
    for file, reason in expected.items():
        assert errors[file] is not None and errors[file].startswith(f"{file}: ") and reason in errors[file], errors[
            file
        ]
    # Nothing half-written: only the two good documents are live, in every index.
    live = index.catalog.chunk_ids()
    assert {d["file"] for d in index.catalog.documents()} == {"good.pdf", "open-encrypted.pdf"}
    assert index.vectors.ids() == live and set(index.lexical._ids) == live


def test_thousand_page_pdf_is_ingested_or_refused_by_the_page_limit(tmp_path: Path) -> None:
    topics = ["cleaning", "calibration", "sampling", "labelling", "storage", "training", "audit trails"]
    areas = ["sterile", "oral", "topical", "biologic", "veterinary", "device", "API", "herbal", "gas", "blood", "cell"]
    pages = [
        [f"{i}. Section {i}", f"Requirement {i} covers {topics[i % 7]} for {areas[i % 11]} batch records of line {i}."]
        for i in range(1, 1201)
    ]
    big = tmp_path / "big.pdf"
    big.write_bytes(make_pdf(pages))
    index = Index(IngestSettings(data_dir=tmp_path / "a"), embedder=HashingEmbedder())  # type: ignore[arg-type]
    report = index.ingest([big])
    assert report.results[0].outcome == "added", report.results[0].error
    assert report.results[0].pages == 1200
    chunks = index.catalog.chunks_of_document(report.results[0].document_id or "")
    assert chunks[-1].page_end == 1200 and "line 1200" in chunks[-1].text
    limited = Index(IngestSettings(data_dir=tmp_path / "b", max_pages=1000), embedder=HashingEmbedder())  # type: ignore[arg-type]
    refused = limited.ingest([big]).results[0]
    assert refused.outcome == "failed"
    assert refused.error == "big.pdf: PDF has 1200 pages, more than the limit of 1000 (max_pages)"
    assert limited.catalog.documents() == []
