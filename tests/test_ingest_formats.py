"""Word, web pages, scans and mixed PDFs: provenance (section or page, offsets, OCR) and cited answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.embedding import HashingEmbedder
from ingest.loaders import load
from ingest.pipeline import Index
from ingest.settings import IngestSettings
from ingest.types import Chunk

from . import docxmaker as sop
from .conftest import CORPUS
from .pdfmaker import make_pdf
from .scanmaker import join_pdfs, scan_of

ANNEX11 = (CORPUS / "EC_EU-GMP-Annex11_computerised-systems_2011.pdf").read_bytes()
# Sentences of Annex 11's pages 2 and 3, which the scans must read back.
RISK = (
    "Risk management should be applied throughout the lifecycle of the computerised system taking into "
    "account patient safety, data integrity and product quality."
)
BACKUP = "Regular back-ups of all relevant data should be done."
TEXT_PAGE = ["1. Scope of this binder", "The pages that follow are a scanned copy of EU GMP Annex 11."]

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Data integrity expectations for contract laboratories | Example Regulator</title>
<meta name="date" content="2024-03-14"><meta property="og:site_name" content="Example Regulator"></head><body>
<div id="cookie-banner" class="cookie-consent"><p>This website uses cookies to improve your experience. By continuing
to browse you accept our cookie policy.</p><button>Accept all cookies</button></div>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News and press releases</a></li>
<li><a href="/guidance">Browse all guidance</a></li><li><a href="/contact">Contact us</a></li></ul></nav></header>
<main><article><h1>Data integrity expectations for contract laboratories</h1>
<p>Contract laboratories that test medicinal products must keep complete and accurate records of every analysis
they perform for a marketing authorisation holder.</p>
<h2>Audit trails</h2>
<p>The audit trail of a chromatography data system should be reviewed by the quality unit before each batch result
is reported to the sponsor.</p>
<ul><li>Review audit trail entries for deleted injections.</li>
<li>Check that system clocks cannot be changed by analysts.</li></ul>
<h2>Retention of raw data</h2>
<table><tr><th>Record</th><th>Retention</th></tr><tr><td>Chromatograms</td><td>10 years</td></tr>
<tr><td>Balance printouts</td><td>5 years</td></tr></table></article></main>
<footer><p>Copyright © 2024 Example Regulator. All rights reserved.</p>
<p>Disclaimer: we accept no liability for any loss arising from the use of this information.</p>
<ul><li><a href="/privacy">Privacy notice</a></li><li><a href="/cookies">Cookie settings</a></li></ul></footer>
</body></html>"""
FURNITURE = re.compile(
    r"cookie|browse|home|news and press|contact us|copyright|all rights reserved|disclaim|liability|privacy", re.I
)


def _folder(root: Path) -> Path:
    folder = root / "binder"
    folder.mkdir()
    (folder / "SOP-QA-042.docx").write_bytes(sop.make_sop_docx())
    (folder / "contract-labs.html").write_text(PAGE, encoding="utf-8")
    (folder / "annex11-scan.pdf").write_bytes(scan_of(ANNEX11, 2))
    (folder / "mixed.pdf").write_bytes(join_pdfs(make_pdf([TEXT_PAGE]), scan_of(ANNEX11, 3)))
    return folder


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Index]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("formats")
    idx = Index(IngestSettings(data_dir=root / "data"), embedder=embedder)
    report = idx.ingest([_folder(root)])
    assert report.count("added") == 4, [r.error for r in report.results]
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def assistant(index: Index) -> Assistant:
    return Assistant(index, AssistantSettings())


def _doc(index: Index, file: str) -> tuple[str, list[Chunk]]:
    row = index.catalog.document_by_file(file)
    assert row is not None, file
    return row["document_id"], index.catalog.chunks_of_document(row["document_id"])


def _exact_spans(index: Index, chunks: list[Chunk]) -> None:
    for c in chunks:
        pages = [index.catalog.page_text(c.document_id, p) or "" for p in range(c.page_start, c.page_end + 1)]
        whole = "\n".join(pages)
        start = c.char_start
        end = len(whole) - len(pages[-1]) + c.char_end
        assert whole[start:end] == c.text, c.chunk_id


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s)


def test_word_sections_are_pages_with_heading_paths_lists_tables_and_footnotes(index: Index) -> None:
    doc_id, chunks = _doc(index, "SOP-QA-042.docx")
    assert index.catalog.document(doc_id)["title"] == "SOP-QA-042 Deviation management"  # type: ignore[index]
    labels = [index.catalog.page_info(doc_id, n).label for n in range(1, 6)]  # type: ignore[union-attr]
    assert labels == ["§1 Purpose", "§4 Procedure", "§4.1 Scope of deviations", "§4.2 Deviations", "§5 Records"]
    (hit,) = [c for c in chunks if sop.DEVIATION in c.text]
    assert (hit.page_start, hit.page_end, hit.section) == (4, 4, "4.2")
    assert hit.heading_path == ("4 Procedure", "4.2 Deviations")
    page = index.catalog.page_text(doc_id, 4) or ""
    assert page[hit.char_start : hit.char_end] == hit.text
    lines = page.split("\n")
    # Numbered list items and whole table rows, each on its own line.
    assert "1) Open a deviation record in the log" in lines and "3) Assess the impact on released batches" in lines
    assert "| " + " | ".join(sop.TABLE_ROW) + " |" in lines
    # The footnote stands apart, after the body text; the sentence keeps only its marker.
    # Footnotes stay apart from the body; their markers read (1), never [1], which is how answers cite.
    assert f"(1) {sop.FOOTNOTE}" in lines
    assert f"{sop.DEVIATION}.(1)" in lines
    # Tracked changes read as accepted: the deleted words and the comment are nowhere in the index.
    everything = "\n".join(index.catalog.page_text(doc_id, n) or "" for n in range(1, 6))
    assert sop.INSERTED in everything
    assert sop.DELETED not in everything and sop.COMMENT not in everything
    assert not any(sop.DELETED in c.text or sop.COMMENT in c.text for c in chunks)
    _exact_spans(index, chunks)


def test_web_page_keeps_the_article_and_drops_banner_navigation_and_footer(index: Index) -> None:
    doc_id, chunks = _doc(index, "contract-labs.html")
    row = index.catalog.document(doc_id)
    assert row is not None
    assert row["title"] == "Data integrity expectations for contract laboratories"
    assert row["year"] == 2024 and row["source"].startswith("Example Regulator")
    text = "\n".join(c.text for c in chunks)
    assert "reviewed by the quality unit before each batch result" in _norm(text)
    assert "| Chromatograms | 10 years |" in text.split("\n")
    for c in chunks:
        assert not FURNITURE.search(c.text), f"{FURNITURE.search(c.text)} in {c.text!r}"
    audit = next(c for c in chunks if "chromatography data system" in c.text)
    assert audit.heading_path[-1] == "Audit trails"
    _exact_spans(index, chunks)


def test_scanned_pdf_is_ocred_page_by_page_with_its_confidence(index: Index) -> None:
    doc_id, chunks = _doc(index, "annex11-scan.pdf")
    info = index.catalog.page_info(doc_id, 1)
    assert info is not None and info.ocr and (info.ocr_confidence or 0) >= 80
    assert RISK in _norm(index.catalog.page_text(doc_id, 1) or "")
    assert any(RISK[:60] in _norm(c.text) for c in chunks)
    assert all(c.page_start == c.page_end == 1 for c in chunks)
    _exact_spans(index, chunks)


def test_mixed_pdf_is_ocred_only_on_its_scanned_page(index: Index) -> None:
    doc_id, chunks = _doc(index, "mixed.pdf")
    first, second = index.catalog.page_info(doc_id, 1), index.catalog.page_info(doc_id, 2)
    assert first is not None and not first.ocr
    assert second is not None and second.ocr
    # The text page is its text layer, exactly as before OCR existed.
    assert index.catalog.page_text(doc_id, 1) == "\n".join(TEXT_PAGE)
    assert BACKUP in _norm(index.catalog.page_text(doc_id, 2) or "")
    assert {c.page_start for c in chunks if BACKUP[:30] in _norm(c.text)} == {2}
    _exact_spans(index, chunks)


@pytest.mark.parametrize(
    ("question", "file", "page", "label", "words"),
    [
        (
            "Who shall record every unplanned departure from an approved procedure in the deviation log?",
            "SOP-QA-042.docx",
            4,
            "§4.2 Deviations",
            "deviation owner shall record",
        ),
        (
            "Who should review the audit trail of a chromatography data system before results are reported?",
            "contract-labs.html",
            1,
            "p. 1",
            "reviewed by the quality unit",
        ),
        (
            "Should risk management be applied throughout the lifecycle of a computerised system?",
            "annex11-scan.pdf",
            1,
            "p. 1 (OCR)",
            "Risk management should be applied",
        ),
        (
            "How often should back-ups of relevant data be done, and how is their integrity checked?",
            "mixed.pdf",
            2,
            "p. 2 (OCR)",
            "back-ups",
        ),
    ],
)
def test_question_is_answered_with_the_right_citation(
    assistant: Assistant, question: str, file: str, page: int, label: str, words: str
) -> None:
    a = assistant.ask(question)
    assert not a.abstained, (a.abstain_reason, a.answer)
    first = a.citations[0]
    assert (first.file, first.page, first.page_label) == (file, page, label), a.to_dict()["citations"]
    assert words in _norm(first.quote)
    assert a.to_dict()["citations"][0]["page_label"] == label


def test_ocr_pages_below_the_confidence_floor_are_reported_not_indexed(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    strict = IngestSettings(data_dir=tmp_path / "data", ocr_min_confidence=99.5)
    index = Index(strict, embedder=HashingEmbedder())  # type: ignore[arg-type]
    report = index.ingest([folder / "mixed.pdf", folder / "annex11-scan.pdf"])
    mixed, scan = report.results
    assert mixed.outcome == "added"
    assert len(mixed.warnings) == 1 and mixed.warnings[0].startswith("mixed.pdf: page 2 not indexed: OCR confidence")
    doc_id = mixed.document_id or ""
    assert index.catalog.page_text(doc_id, 2) == ""
    assert {c.page_start for c in index.catalog.chunks_of_document(doc_id)} == {1}
    assert scan.outcome == "failed" and scan.error is not None
    assert scan.error.startswith("annex11-scan.pdf: no text layer") and "page 1 not indexed" in scan.error


def test_missing_tesseract_fails_the_scan_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract on it
    index = Index(IngestSettings(data_dir=tmp_path / "data"), embedder=HashingEmbedder())  # type: ignore[arg-type]
    (result,) = index.ingest([folder / "annex11-scan.pdf"]).results
    assert result.outcome == "failed" and result.error is not None
    assert result.error.startswith("annex11-scan.pdf: needs OCR: page(s) 1 have no text layer")
    assert "Tesseract is missing" in result.error and "apt-get install tesseract-ocr" in result.error
    assert index.catalog.documents() == []


def test_web_page_in_its_own_charset_is_read() -> None:
    latin = PAGE.replace('charset="utf-8"', 'charset="iso-8859-1"').replace(
        "Contract laboratories that test", "Les laboratoires sous-traitants (données validées) that test"
    )
    raw = load(Path("contract-labs.html"), latin.encode("latin-1"))
    assert "Les laboratoires sous-traitants (données validées) that test" in raw.pages[0]


def test_word_table_cells_keep_their_paragraphs_apart_and_unstyled_text_is_one_section() -> None:
    import io

    from docx import Document

    doc = Document()
    doc.add_paragraph("Opening text before any heading.")
    doc.add_heading("1 Scope", level=1)
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Equipment"
    table.cell(0, 0).add_paragraph("and utilities")
    table.cell(0, 1).text = "Owner"
    inner = table.cell(1, 0).add_table(rows=1, cols=2)
    inner.cell(0, 0).text, inner.cell(0, 1).text = "HPLC", "GC"
    table.cell(1, 1).text = "QC"
    p = doc.add_paragraph("Calibration is ")
    p.add_run("always").bold = True
    p.add_run(" recorded.")
    buf = io.BytesIO()
    doc.save(buf)
    raw = load(Path("scope.docx"), buf.getvalue())
    assert [i.label for i in raw.page_info] == ["§(before the first heading)", "§1 Scope"]
    assert raw.pages[1].split("\n") == [
        "# 1 Scope",
        "",
        "| Equipment and utilities | Owner |",
        "| HPLC GC | QC |",
        "",
        "Calibration is always recorded.",
    ]


def test_a_placeholder_title_in_the_file_is_never_the_document_title(tmp_path: Path) -> None:
    """A PDF saved from a browser says its title is "about:blank"; an editor's says "Untitled" or a file
    name. Such a title would flow into every citation and export: the first line is used instead."""
    import io

    from pypdf import PdfReader, PdfWriter

    def titled(pdf: bytes, title: str) -> bytes:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
        writer.add_metadata({"/Title": title})
        buf = io.BytesIO()
        writer.write(buf)
        return buf.getvalue()

    page = ["Guidance on electronic batch records", "Batch records must be reviewed before release."]
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "browser-save.pdf").write_bytes(titled(make_pdf([page]), "about:blank"))
    (folder / "editor-save.pdf").write_bytes(
        titled(make_pdf([[*page, "Second copy."]]), "Microsoft Word - draft3.docx")
    )
    (folder / "blank.html").write_text(
        "<html><head><title>about:blank</title></head><body><article><h1>Guidance on electronic batch records"
        "</h1><p>Batch records must be reviewed by the quality unit before each batch is released.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    (folder / "named.pdf").write_bytes(titled(make_pdf([[*page, "Third copy."]]), "Electronic batch records (2024)"))
    index = Index(IngestSettings(data_dir=tmp_path / "data"), embedder=HashingEmbedder())  # type: ignore[arg-type]
    report = index.ingest([folder])
    assert report.count("added") == 4, [r.error for r in report.results]
    titles = {r["file"]: r["title"] for r in index.catalog.documents()}
    assert titles == {
        "browser-save.pdf": "Guidance on electronic batch records",
        "editor-save.pdf": "Guidance on electronic batch records",
        "blank.html": "Guidance on electronic batch records",
        "named.pdf": "Electronic batch records (2024)",
    }, titles
    index.close()
