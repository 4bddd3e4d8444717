"""Ruled PDF tables keep their rows whole: one row a line, as the page shows it, and quoted as a row."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.labels import label_sentences
from assistant.sentences import sentence_spans
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest import loaders
from ingest.loaders import load
from ingest.pipeline import Index
from ingest.settings import IngestSettings

from .conftest import CORPUS
from .pdfmaker import make_table_pdf

BEFORE = [
    "Table 4 lists the retention periods that apply to each record type.",
    "Records are kept by the quality unit.",
]
AFTER = ["The retention periods apply from the date of batch release.", "Longer periods may apply under national law."]
CELLS = [
    [["Record type"], ["Retention period"], ["Who keeps it"]],
    [["Batch records"], ["One year after the", "expiry date of the batch"], ["Quality unit"]],
    [
        ["Audit trail of the", "chromatography system"],
        ["For the life of the", "record it covers. At", "least five years."],
        ["IT department and", "the laboratory"],
    ],
]
ROWS = [
    "| Record type | Retention period | Who keeps it |",
    "| Batch records | One year after the expiry date of the batch | Quality unit |",
    "| Audit trail of the chromatography system | For the life of the record it covers. At least five years. "
    "| IT department and the laboratory |",
]
TABLE_PDF = make_table_pdf(BEFORE, CELLS, AFTER, [150, 160, 130])
MHRA = "MHRA_learning_antipsychotics-licensed-indications-table.pdf"


def test_a_ruled_table_is_one_row_a_line_and_the_rest_of_the_page_is_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    page = load(Path("retention.pdf"), TABLE_PDF).pages[0]
    assert page.split("\n") == [*BEFORE, "", *ROWS, "", *AFTER]
    # Without the table reader the same page is the cells one after another, each line of a cell alone.
    monkeypatch.setattr(loaders, "pages_with_tables", lambda *a: {})
    plain = load(Path("retention.pdf"), TABLE_PDF).pages[0].split("\n")
    assert plain[:2] == BEFORE and plain[-2:] == AFTER
    assert "For the life of the" in plain and not any(line.startswith("|") for line in plain)


def test_a_table_row_is_one_sentence_and_a_claimable_row() -> None:
    text = "\n".join([*BEFORE, "", *ROWS, "", *AFTER])
    spans = [text[s:e] for s, e in sentence_spans(text)]
    # The row's cell holds two sentences; the row is still one quote.
    assert spans == [*BEFORE, *ROWS, *AFTER]
    labels = [s.label for s in label_sentences(text)]
    assert labels[2:5] == ["table_row"] * 3


def test_the_mhra_table_rows_are_the_rows_the_page_shows() -> None:
    """pypdf alone reads this table cell after cell: page 4's "Intractable hiccup" then sits beside the next
    row's "Pimozide—oral", and a quote of it tells a reader the wrong drug."""
    pages = load(Path(MHRA), (CORPUS / MHRA).read_bytes()).pages
    rows = {line.split(" | ")[0].lstrip("| "): line for p in pages for line in p.split("\n") if line.startswith("|")}
    assert rows["Perphenazine—oral"] == (
        "| Perphenazine—oral | ✓ | ✓ | Mania and hypomania | Anxiety, severe psychomotor agitation, excitement, "
        "violent or dangerously impulsive behaviour | Nausea and vomiting Intractable hiccup |"
    )
    assert "hiccup" not in rows["Pimozide—oral"]
    assert rows["Benperidol—oral"] == "| Benperidol—oral |  |  |  |  | Deviant antisocial sexual behaviour |"
    # The header row repeats on each page the table runs over, and is kept on each (it is not furniture).
    header = "| Drug—formulation | Schizophrenia | Paranoid psychosis and other psychoses |"
    assert all(p.split("\n")[0].startswith(header) or header in p for p in pages)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Assistant]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("tables")
    folder = root / "tables"
    folder.mkdir()
    (folder / "retention.pdf").write_bytes(TABLE_PDF)
    shutil.copy(CORPUS / MHRA, folder / MHRA)
    idx = Index(IngestSettings(data_dir=root / "data"), embedder=embedder)
    report = idx.ingest([folder])
    assert report.count("added") == 2, [r.error for r in report.results]
    yield Assistant(idx, AssistantSettings())
    idx.close()


@pytest.mark.parametrize(
    ("question", "file", "page", "row"),
    [
        ("How long must the audit trail of the chromatography system be kept?", "retention.pdf", 1, ROWS[2]),
        (
            "Besides psychoses, what is oral perphenazine licensed for?",
            MHRA,
            4,
            "| Perphenazine—oral | ✓ | ✓ | Mania and hypomania |",
        ),
    ],
)
def test_a_question_about_a_table_is_answered_with_the_whole_row(
    assistant: Assistant, question: str, file: str, page: int, row: str
) -> None:
    a = assistant.ask(question)
    assert not a.abstained, (a.abstain_reason, a.answer)
    quotes = [(c.file, c.page, c.quote) for c in a.citations]
    assert any(f == file and p == page and q.startswith(row) and q.endswith("|") for f, p, q in quotes), quotes
