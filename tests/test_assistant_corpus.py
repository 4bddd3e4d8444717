"""Extractive answers on the bundled corpus: right pages, verbatim quotes, refusals, corrected premises."""

from __future__ import annotations

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from assistant.types import Answer, Evidence
from assistant.verify import Verifier
from ingest.pipeline import Index


@pytest.fixture(scope="module")
def assistant(corpus_index: Index) -> Assistant:
    return Assistant(corpus_index, AssistantSettings())


def _check_contract(a: Answer) -> None:
    retrieved = {cid for e in a.retrieval for cid in (c.chunk_id for c in e.chunks)}
    by_id = {c.chunk_id: c for e in a.retrieval for c in e.chunks}
    for c in a.citations:
        assert c.chunk_id in retrieved, "a citation points outside the retrieved set"
        assert by_id[c.chunk_id].text[c.quote_start : c.quote_end] == c.quote, "quote is not a verbatim span"
        assert by_id[c.chunk_id].page_start <= c.page <= by_id[c.chunk_id].page_end
    ns = {c.n for c in a.citations}
    for claim in a.claims:
        assert set(claim.citations) <= ns
    d = a.to_dict()
    for key in (
        "id",
        "question",
        "answer",
        "abstained",
        "abstain_reason",
        "citations",
        "claims",
        "retrieval",
        "backend",
        "model",
        "prompt_version",
        "index_version",
        "latency_ms",
    ):
        assert key in d
    assert set(d["latency_ms"]) >= {"retrieval", "generation", "verification", "total"}


@pytest.mark.parametrize(
    ("question", "file", "page", "section"),
    [
        (
            "What does EU GMP Annex 11 expect about periodic evaluation of computerised systems?",
            "EC_EU-GMP-Annex11_computerised-systems_2011.pdf",
            4,
            "11",
        ),
        (
            "Under E6(R3), when may the investigator break the randomisation code of a blinded trial?",
            "ICH_E6-R3_GCP_EMA-step5_2025.pdf",
            23,
            "2.11",
        ),
        (
            "How should the integrity of backup data be checked for computerised systems in GMP?",
            "EC_EU-GMP-Annex11_computerised-systems_2011.pdf",
            3,
            "7.2",
        ),
    ],
)
def test_answer_cites_the_known_page(assistant: Assistant, question: str, file: str, page: int, section: str) -> None:
    a = assistant.ask(question)
    assert not a.abstained, a.answer
    _check_contract(a)
    first = a.citations[0]
    assert (first.file, first.page, first.section) == (file, page, section)
    assert all(c.supported for c in a.claims)


@pytest.mark.parametrize(
    "question",
    [
        "What must a PSUR contain under EU pharmacovigilance rules?",
        "What is the recommended paediatric dose of amoxicillin for otitis media?",
    ],
)
def test_out_of_corpus_questions_abstain(assistant: Assistant, question: str) -> None:
    a = assistant.ask(question)
    assert a.abstained and a.abstain_reason in ("no_evidence", "low_confidence")
    assert a.citations == () and "do not answer" in a.answer
    assert a.searched["closest_documents"], "a refusal names the closest documents searched"


def test_false_premise_is_corrected_from_the_evidence(assistant: Assistant) -> None:
    a = assistant.ask(
        "Since Annex 11 only asks for backups to be checked once, during validation, "
        "how should we schedule backup checks?"
    )
    assert not a.abstained
    assert a.answer.startswith("The documents do not support the premise")
    # Quotes are verbatim, line breaks included; compare with whitespace collapsed.
    assert any("monitored periodically" in " ".join(c.quote.split()) for c in a.citations), a.answer


def test_changed_number_is_flagged_unsupported(corpus_index: Index, assistant: Assistant) -> None:
    a = assistant.ask("Under E6(R3), when may the investigator break the randomisation code of a blinded trial?")
    evidence: Evidence = a.retrieval[0]
    chunk = evidence.chunks[0]
    verifier = Verifier(encode=corpus_index.embedder.encode)
    true_claim = "The first page of Annex 11 gives 30 June 2011 as the deadline for coming into operation."
    annex = next(
        e
        for e in assistant.searcher.search("Annex 11 deadline for coming into operation 30 June 2011")
        if "30 June 2011" in e.text
    )
    good, bad = verifier.verify(
        [(true_claim, (1,)), (true_claim.replace("30 June 2011", "31 January 2012"), (1,))], {1: annex}
    )
    assert good.supported, good.reason
    assert not bad.supported and "2012" in (bad.reason or "")
    # A citation to a source that was not retrieved is dropped, never shown.
    orphan = verifier.verify([(chunk.text.split(".")[0], (7,))], {1: evidence})[0]
    assert orphan.cited == () and orphan.dropped == (7,) and not orphan.supported
