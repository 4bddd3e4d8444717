"""Ingest of the bundled corpus: provenance, cleaning and sizes, checked on the real files."""

from __future__ import annotations

import itertools
import re

import numpy as np

from ingest.catalog import Catalog
from ingest.embedding import MODEL_MAX_TOKENS, token_counter
from ingest.pipeline import Index

LINE_NUMBERED = (
    "FDA_draft-guidance_AI-to-support-regulatory-decision-making-drugs-biologics_2025.pdf",
    "FDA_guidance_Part11-electronic-records-signatures-scope-application_2003.pdf",
    "FDA_guidance_CGMP-503B-outsourcing-facilities_2020.pdf",
    "FDA_draft-guidance_refuse-to-file-NDA-BLA_2017.pdf",
    "FDA_draft-guidance_BIMO-inspections_2024.pdf",
)
WEB_FILES = (
    "TradePress_news_EMA-HMA-AI-workplan_2023.txt",
    "Asphalion_news_EMA-HMA-AI-workplan_2025.txt",
    "BakerMcKenzie_summary_EMA-AI-workplan_2023.txt",
)


def _all_chunks(index: Index) -> list:  # type: ignore[type-arg]
    return [c for d in index.catalog.documents() for c in index.catalog.chunks_of_document(d["document_id"])]


def _has_line_number_run(text: str, run: int = 3) -> bool:
    """Three or more lines in a row that start or end with increasing numbers, or are bare numbers."""
    for pattern in (r"(?:^|\s)(\d{1,4})\s*$", r"^\s*(\d{1,4})(?:\s|$)"):
        nums = []
        for line in text.split("\n"):
            m = re.search(pattern, line)
            nums.append(int(m.group(1)) if m else None)
        streak = 1
        for a, b in itertools.pairwise(nums):
            streak = streak + 1 if a is not None and b is not None and 0 < b - a <= 5 else 1
            if streak >= run:
                return True
    return False


def test_all_24_documents_listed_with_manifest_metadata(corpus_index: Index) -> None:
    docs = {d["file"]: d for d in corpus_index.catalog.documents()}
    assert len(docs) == 24
    e6 = docs["ICH_E6-R3_GCP_EMA-step5_2025.pdf"]
    assert (e6["issuing_body"], e6["doc_type"], e6["status"], e6["pages"]) == ("ICH", "guideline", "final", 71)
    assert docs["FDA_draft-guidance_BIMO-inspections_2024.pdf"]["status"] == "draft"
    # The two AES-encrypted PDFs open with the empty password and are indexed.
    for f in ("FDA_infographic_drug-approval-process.pdf", "FDA_joint-paper_AI-and-medical-products_2025.pdf"):
        assert docs[f]["chunks"] > 0


def test_line_numbers_of_fda_drafts_are_removed(corpus_index: Index) -> None:
    by_file = {d["file"]: d["document_id"] for d in corpus_index.catalog.documents()}
    for f in LINE_NUMBERED:
        chunks = corpus_index.catalog.chunks_of_document(by_file[f])
        offenders = [c.chunk_id for c in chunks if _has_line_number_run(c.text)]
        assert not offenders, f"{f}: line numbers left in {offenders[:3]}"
    ai = corpus_index.catalog.chunks_of_document(by_file[LINE_NUMBERED[0]])
    text = "\n".join(c.text for c in ai)
    assert (
        "the word should in Agency guidances means that something is suggested or recommended, but\nnot required."
        in text
    )


def test_no_cookie_notice_or_disclaimer_is_indexed(corpus_index: Index) -> None:
    anywhere = re.compile(r"cookie|copyright ©|all rights reserved|disclaim|attorney advertising", re.IGNORECASE)
    for c in _all_chunks(corpus_index):
        assert not anywhere.search(c.text), f"{c.file} p{c.page_start}: {anywhere.search(c.text)}"
    # Site furniture of the saved web pages ("schedule a meeting" is also ordinary FDA prose).
    web = re.compile(r"webinar|contact us|schedule a (free )?meeting|filter by category|read the whole", re.IGNORECASE)
    by_file = {d["file"]: d["document_id"] for d in corpus_index.catalog.documents()}
    for f in WEB_FILES:
        chunks = corpus_index.catalog.chunks_of_document(by_file[f])
        assert chunks  # the article itself survives
        for c in chunks:
            assert not web.search(c.text), f"{f}: {web.search(c.text)}"


def test_running_headers_and_hyphenation_are_gone(corpus_index: Index) -> None:
    for c in _all_chunks(corpus_index):
        assert "EMA/CHMP/ICH/135/1995 Page" not in c.text.replace("EMA/CHMP/ICH/135/1995EMA", "EMA")
        assert "Contains Nonbinding Recommendations" not in c.text
        assert not re.search(r"[a-z]-\n[a-z]", c.text), f"{c.file} p{c.page_start}: hyphenated line end"


def test_e6_page_23_sentence_has_its_page_and_section(corpus_index: Index) -> None:
    sentence = "The investigator should follow the trial’s randomisation procedures, if any"
    hits = [c for c in _all_chunks(corpus_index) if sentence in c.text.replace("\n", " ")]
    assert len(hits) == 1
    c = hits[0]
    assert c.file == "ICH_E6-R3_GCP_EMA-step5_2025.pdf"
    assert c.page_start <= 23 <= c.page_end
    assert c.section == "2.11"
    assert "2.11 Randomisation procedures and unblinding" in c.heading_path


def test_chunk_offsets_are_exact_page_spans(corpus_index: Index) -> None:
    cat: Catalog = corpus_index.catalog
    for c in _all_chunks(corpus_index):
        pages = [cat.page_text(c.document_id, p) or "" for p in range(c.page_start, c.page_end + 1)]
        if len(pages) == 1:
            expected = pages[0][c.char_start : c.char_end]
        else:
            expected = "\n".join([pages[0][c.char_start :], *pages[1:-1], pages[-1][: c.char_end]])
        assert c.text == expected, c.chunk_id


def test_no_chunk_exceeds_the_model_input(corpus_index: Index, embedder) -> None:  # type: ignore[no-untyped-def]
    count = token_counter()
    longest = max(count(t) for _, t in corpus_index.catalog.iter_chunk_texts())
    assert longest <= MODEL_MAX_TOKENS
    # The model reads 256 word pieces including [CLS] and [SEP]: nothing embedded was cut.
    assert longest + 2 <= embedder.max_seq_length


def test_vectors_match_the_catalog_one_to_one(corpus_index: Index) -> None:
    live = corpus_index.catalog.chunk_ids()
    assert corpus_index.vectors.ids() == live
    assert set(corpus_index.lexical._ids) == live


def test_hnsw_recall_against_exact_search(corpus_index: Index, embedder) -> None:  # type: ignore[no-untyped-def]
    ids = sorted(corpus_index.catalog.chunk_ids())
    stored = corpus_index.vectors.vectors(ids)
    matrix = np.stack([stored[i] for i in ids])
    rng = np.random.default_rng(7)
    texts = dict(corpus_index.catalog.iter_chunk_texts())
    sample = rng.choice(len(ids), size=150, replace=False)
    # Queries are the first sentence of sampled chunks: near, not identical, to stored vectors.
    queries = embedder.encode([texts[ids[i]].split(". ")[0][:300] for i in sample])
    recalls = []
    for q in queries:
        exact = {ids[j] for j in np.argsort(-(matrix @ q))[:10]}
        approx = {cid for cid, _ in corpus_index.vectors.query(q, 10)}
        recalls.append(len(exact & approx) / 10)
    assert float(np.mean(recalls)) >= 0.98
