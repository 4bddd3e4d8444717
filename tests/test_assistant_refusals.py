"""Typed refusals that need a purpose-built corpus: sources that disagree, and only draft guidance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.embedding import OnnxEmbedder
from ingest.pipeline import Index
from ingest.settings import IngestSettings

RETENTION_Q = "How long must batch records be kept after the batch is released?"
CLOUD_Q = "Must a cloud service provider be qualified before it hosts GxP data?"


def _write(folder: Path, docs: dict[str, tuple[str, str, str]]) -> None:
    """docs: file -> (title, status, text); a manifest records each document's status."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for file, (title, status, text) in docs.items():
        (folder / file).write_text(text, encoding="utf-8")
        entries.append({"file": file, "title": title, "issuing_body": "Test agency", "status": status})
    (folder / "manifest.json").write_text(json.dumps({"version": 1, "documents": entries}))


RETENTION_A = (
    "Retention of batch documentation\n\n"
    "Batch records must be kept for 5 years after the batch is released by the qualified person. "
    "Records may be kept on paper or electronically.\n"
)
RETENTION_B = (
    "Batch documentation: retention\n\n"
    "Batch records must be kept for 10 years after the batch is released by the qualified person. "
    "Electronic records must stay readable for the whole period.\n"
)
CLOUD_DRAFT = (
    "Draft guidance: hosted computerised systems\n\n"
    "A cloud service provider must be qualified before it hosts GxP data, on the basis of a documented "
    "supplier assessment and a quality agreement. This draft is distributed for comment purposes only.\n"
)
UNRELATED = (
    "Cleaning validation\n\n"
    "Cleaning procedures for shared equipment are validated with worst-case products and swab sampling.\n"
)


def _assistant(
    tmp_path: Path, embedder: OnnxEmbedder, docs: dict[str, tuple[str, str, str]], **settings: object
) -> Assistant:
    folder = tmp_path / "docs"
    _write(folder, docs)
    index = Index(IngestSettings(data_dir=tmp_path / "data"), embedder=embedder)
    report = index.ingest([folder])
    assert report.count("failed") == 0, [r.error for r in report.results if r.error]
    return Assistant(index, AssistantSettings(**settings))  # type: ignore[arg-type]


def test_sources_that_disagree_on_a_period_are_refused_citing_both(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    docs = {
        "agency-a-retention.txt": ("Agency A batch record rules", "final", RETENTION_A),
        "agency-b-retention.txt": ("Agency B batch record rules", "final", RETENTION_B),
        "cleaning.txt": ("Cleaning validation note", "final", UNRELATED),
    }
    a = _assistant(tmp_path, embedder, docs).ask(RETENTION_Q)
    assert a.abstained and a.abstain_reason == "conflicting_sources", a.answer
    assert "5" in a.answer and "10" in a.answer, a.answer
    # The reader is shown both sides, each quoted from its own document.
    assert {c.title for c in a.citations} == {"Agency A batch record rules", "Agency B batch record rules"}


def test_one_source_on_a_period_is_answered(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    docs = {
        "agency-a-retention.txt": ("Agency A batch record rules", "final", RETENTION_A),
        "cleaning.txt": ("Cleaning validation note", "final", UNRELATED),
    }
    a = _assistant(tmp_path, embedder, docs).ask(RETENTION_Q)
    assert not a.abstained, a.answer
    assert "5 years" in a.answer and a.citations[0].title == "Agency A batch record rules"


@pytest.mark.parametrize("drafts", ["label", "refuse"])
def test_answer_only_from_a_draft_is_labelled_or_refused(tmp_path: Path, embedder: OnnxEmbedder, drafts: str) -> None:
    docs = {
        "cloud-draft.txt": ("Draft guidance on hosted systems", "draft", CLOUD_DRAFT),
        "cleaning.txt": ("Cleaning validation note", "final", UNRELATED),
    }
    a = _assistant(tmp_path, embedder, docs, drafts=drafts).ask(CLOUD_Q)
    if drafts == "refuse":
        assert a.abstained and a.abstain_reason == "only_draft_or_superseded", a.answer
        assert "Draft guidance on hosted systems" in a.answer  # the refusal names the closest document
    else:
        assert not a.abstained, a.answer
        assert "qualified before it hosts GxP data" in a.answer
        assert all(c.status == "draft" for c in a.citations)
        assert any("draft" in w.lower() for w in a.warnings), a.warnings
