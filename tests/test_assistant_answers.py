"""Answers that answer: sentence labels, composition (definitions, lists, parts) and the abstention model."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from assistant import decide
from assistant.extractive import definition_term, question_parts
from assistant.labels import CLAIMABLE, label_sentences
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from assistant.types import Answer
from evals.questions import SETS_DIR, load_questions, resolve_set
from ingest.pipeline import Index


@pytest.fixture(scope="module")
def assistant(corpus_index: Index) -> Assistant:
    return Assistant(corpus_index, AssistantSettings())


def _labels(text: str) -> list[tuple[str, str]]:
    return [(s.label, text[s.start : s.end]) for s in label_sentences(text)]


def test_apparatus_is_labelled_and_never_claimable() -> None:
    text = (
        "Table of Contents\n\n"
        "Scope ......................................... 4\n\n"
        "EMA/CHMP/CVMP/83833/2023 Committee for Medicinal Products for Human Use\n\n"
        "1.3 Composition, functions and operations 1.3.1 The IRB/IEC should consist of a reasonable number of "
        "members who collectively have the qualifications to review the trial.\n\n"
        "It is recommended that the IRB/IEC should include:\n"
        "(a) At least five members;\n"
        "(b) At least one member whose primary area of interest is not in medical sciences;\n\n"
        "Software is often assembled from features that are used together in one operation.14\n\n"
        "14 That is, software is often an integration of features that are used together.\n\n"
        "Kreimeyer, K., Dang, O., Spiker, J. (2021). Drug Saf, 40(4), 317-331. doi:10.1007/s40264\n"
    )
    got = _labels(text)
    kinds = [k for k, _ in got]
    assert kinds[:2] == ["heading", "toc"], got
    assert "cover" in kinds and "lead_in" in kinds and "footnote" in kinds and "reference" in kinds, got
    # The section number and the heading run into it are not part of the sentence.
    body = [t for k, t in got if k == "body"]
    assert body and body[0].startswith("The IRB/IEC should consist"), got
    items = [t for k, t in got if k == "list_item"]
    assert [t[:3] for t in items] == ["(a)", "(b)"], got
    for kind, sentence in got:
        assert (kind in CLAIMABLE) == (kind in {"body", "lead_in", "list_item", "table_row"}), sentence


def test_what_a_question_asks_is_recognised() -> None:
    assert definition_term("How is 'risk' defined in ICH Q9?") == "risk"
    assert definition_term("How does FDA's General Principles of Software Validation define software validation?") == (
        "software validation"
    )
    assert definition_term("Who counts as a vulnerable participant under ICH E6(R3)?") == "vulnerable participant"
    assert definition_term("How long must audit trail records be kept?") is None
    parts = question_parts("What must a change-control record contain, and who approves it?")
    assert parts == ["What must a change-control record contain", "who approves it"], parts


def test_a_definition_question_leads_with_the_defining_sentence(assistant: Assistant) -> None:
    a = assistant.ask("How is bioavailability defined in FDA's guidance on BA studies for NDAs and INDs?")
    assert not a.abstained, a.answer
    assert "rate and extent" in a.claims[0].text, a.answer


def test_a_list_lead_in_brings_its_items(assistant: Assistant) -> None:
    a = assistant.ask("What are the seven steps of HACCP as laid out in the Q9 annex on risk tools?")
    assert not a.abstained, a.answer
    texts = [c.text for c in a.claims]
    lead = next(i for i, t in enumerate(texts) if t.endswith(":"))
    items = [t for t in texts[lead + 1 :] if t.startswith("(")]
    assert len(items) >= 5, a.answer
    assert all(c.supported and c.citations for c in a.claims), a.answer


def test_each_part_of_a_question_is_answered(assistant: Assistant) -> None:
    a = assistant.ask(
        "Under ICH GCP, who is allowed to vote on an ethics committee's opinion about a trial, "
        "and can the investigator or sponsor take part in the decision?"
    )
    assert not a.abstained, a.answer
    assert "should vote" in a.answer and "should not participate in the decision making" in a.answer, a.answer


def test_a_guideline_cited_only_by_title_is_refused_naming_the_closest_documents(assistant: Assistant) -> None:
    a = assistant.ask("What must an ICH Q12 Product Lifecycle Management document contain?")
    assert a.abstained and a.abstain_reason == "no_evidence", a.answer
    assert "Q12 only by its title" in a.answer and "the closest were in:" in a.answer, a.answer


def test_the_ask_box_example_is_answered_with_a_cited_period(assistant: Assistant) -> None:
    from pathlib import Path

    html = (Path(__file__).resolve().parents[1] / "api" / "static" / "index.html").read_text()
    example = re.search(r'placeholder="Ask about the guidance, e\.g\. ([^"]+)"', html)
    assert example, "the Ask box has no example question"
    a = assistant.ask(example.group(1))
    assert not a.abstained, a.answer
    assert "5 years" in a.claims[0].text and a.claims[0].supported and a.citations, a.answer


def test_a_period_the_documents_never_give_is_refused_not_answered_with_a_frequency(assistant: Assistant) -> None:
    # The corpus gives no retention period for audit trails ("regularly reviewed" is not one).
    a = assistant.ask("How long must audit trail records be kept?")
    assert a.abstained and "period" in a.answer and "the closest were in:" in a.answer, a.answer


def _every_answer(assistant: Assistant) -> list[Answer]:
    out = []
    for path in sorted(SETS_DIR.glob("bundled*.jsonl")):
        out += [assistant.ask(q.question) for q in load_questions(path)]
    return out


def test_no_claim_of_any_answer_of_any_set_is_apparatus(assistant: Assistant) -> None:
    """Every claim of every answer to every curated question is body text, a list or a table row."""
    answers = _every_answer(assistant)
    assert len(answers) >= 300
    for a in answers:
        if a.abstained:
            continue
        by_n = {c.n: c for c in a.citations}
        for claim in a.claims:
            for n in claim.citations:
                c = by_n[n]
                chunk = assistant.index.catalog.chunks_by_id([c.chunk_id])[c.chunk_id]
                # The sentence the quote covers most (a quote may include the section number before it).
                overlap = max(
                    label_sentences(chunk.text),
                    key=lambda s: min(s.end, c.quote_end) - max(s.start, c.quote_start),
                )
                label = overlap.label
                assert label in CLAIMABLE, (a.question, label, c.quote)
                assert chunk.text[c.quote_start : c.quote_end] == c.quote


def test_the_abstention_model_was_fitted_on_the_current_tuning_sets_only() -> None:
    raw = json.loads(decide.MODEL_FILE.read_text())
    assert "bundled3-test" not in raw["tuning_sets"]
    for name, digest in raw["tuning_sets"].items():
        assert hashlib.sha256(resolve_set(name).read_bytes()).hexdigest()[:16] == digest, (
            f"{name} changed since the abstention model was fitted: run python -m evals.fit_abstention"
        )
    model = decide.load()
    assert 0 < model.threshold < 1 and set(model.weights) <= set(decide.FEATURES)


def test_the_decision_is_recorded_with_each_answer(assistant: Assistant) -> None:
    a = assistant.ask("What does EU GMP Annex 11 expect about periodic evaluation of computerised systems?")
    d = a.searched["decision"]
    assert set(d["features"]) == set(decide.FEATURES)
    assert d["p_unanswerable"] < d["threshold"] and not a.abstained


def test_quantity_is_found_in_words_and_not_in_section_numbers() -> None:
    assert decide.gives_quantity("HEPA recertification should be performed at least twice a year.")
    assert decide.gives_quantity("Records should be kept for two years.")
    assert not decide.gives_quantity("FDA will exercise enforcement discretion on audit trails (§ 11.10 (e)).")
    assert not decide.gives_quantity("It may be important to have audit trails in place for the records.6")
    # "How long" is answered by a period, not by a frequency.
    how_long = "How long must audit trail records be kept?"
    assert not decide.gives_quantity("Audit trails should be regularly reviewed.", how_long)
    assert decide.gives_quantity("Data should be accessible throughout the retention period.", how_long)
    assert decide.gives_quantity("Samples are retained for 5 years after approval.", how_long)


def test_a_held_out_question_is_never_asked_while_fitting() -> None:
    from evals import fit_abstention

    assert "bundled3-test" not in fit_abstention.TUNING_SETS
    held_out = {q.question for q in load_questions(resolve_set("bundled3-test"))}
    tuning = {q.question for name in fit_abstention.TUNING_SETS for q in load_questions(resolve_set(name))}
    assert not held_out & tuning


def test_learned_picker_weights_are_used_only_where_they_beat_the_hand_set_ones() -> None:
    from assistant import extractive

    raw = json.loads(extractive.PICKER_FILE.read_text())
    check = raw["check"]
    learned = (check["learned"]["key_fact_recall"], check["learned"]["cites_gold_page"])
    hand = (check["hand"]["key_fact_recall"], check["hand"]["cites_gold_page"])
    assert raw["use"] == (learned > hand)
    assert check["set"] not in raw["training_sets"] and "bundled3-test" not in raw["training_sets"]
    expected = [raw["weights"][k] for k in extractive.FEATURES] if raw["use"] else list(extractive.HAND_WEIGHTS)
    assert list(extractive.weights()) == expected


def test_acronyms_are_read_from_the_documents_own_definitions() -> None:
    from assistant.acronyms import defined_in

    got = defined_in(["This guidance on Computer Software Assurance (CSA) and the quality risk management (QRM)"])
    assert got == {"CSA": "computer software assurance", "QRM": "quality risk management"}


def test_an_acronym_the_documents_only_spell_out_is_searched_in_full(assistant: Assistant) -> None:
    a = assistant.ask("What does CSV require for spreadsheets used in production?")
    assert a.searched.get("expanded_acronyms") == {"CSV": "computer system validation"}, a.answer
    assert a.abstain_reason != "no_evidence", a.answer
    # An acronym for a subject the corpus does not cover is still refused as such.
    psur = assistant.ask("What must a PSUR contain under EU pharmacovigilance rules?")
    assert psur.abstained and "never mention PSUR" in psur.answer
