"""The ragas adapter: non-LLM metrics always; a judge that answers garbage is reported as failures, not scores."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from evals import ragas_adapter

from .scripted_llm import ScriptedLLM

RECORDS = [
    {
        "question": "How long does FDA have to decide whether to file an NDA?",
        "answerable": True,
        "abstained": False,
        "answer": "FDA will file an NDA within 60 days of receipt. [1]",
        "reference_answer": "60 days from receipt.",
        "citations": [{"quote": "The FDA will file an NDA within 60 days of receipt."}],
        "gold": [{"quote": "The FDA will file an NDA within 60 days of receipt."}],
    },
    {
        "question": "What must batch release printouts show?",
        "answerable": True,
        "abstained": False,
        "answer": "Printouts must show the colour of the batch. [1]",
        "reference_answer": "Whether any data was changed since the original entry.",
        "citations": [{"quote": "Cleaning procedures are validated with swab sampling."}],
        "gold": [{"quote": "printouts indicating if any of the data has been changed since the original entry"}],
    },
    {
        "question": "What is a PSUR?",
        "answerable": False,
        "abstained": True,
        "answer": "",
        "reference_answer": "",
        "citations": [],
        "gold": [],
    },
]


@pytest.fixture
def judge() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


def test_non_llm_metrics_separate_a_grounded_answer_from_an_ungrounded_one() -> None:
    scores = {s["metric"]: s for s in ragas_adapter.non_llm_scores(RECORDS)}
    assert set(scores) == {
        "non_llm_context_recall",
        "non_llm_context_precision_with_reference",
        "non_llm_string_similarity",
        "rouge_score",
        "bleu_score",
    }
    # The refusal is not judged; the two answers are.
    assert all(s["n"] == 2 and s["failure_rate"] == 0 for s in scores.values())
    per = [ragas_adapter.non_llm_scores([r])[0]["mean"] for r in RECORDS[:2]]
    assert per[0] > 0.9 and per[1] < 0.5  # context recall: the grounded answer's context holds the gold quote


def test_a_judge_whose_output_does_not_parse_is_a_failure_rate(judge: ScriptedLLM) -> None:
    judge.reply = "I am not sure what you mean."
    scores = ragas_adapter.judged_scores(RECORDS, base_url=judge.url, model="scripted", timeout_s=10)
    assert {s["metric"] for s in scores} >= {"faithfulness", "factual_correctness", "context_recall"}
    for s in scores:
        assert s["n"] == 2 and s["failure_rate"] == 1.0 and s["mean"] is None, s
    assert judge.requests, "the adapter never called the judge"


def test_a_judge_that_errors_is_a_failure_rate_not_a_crash(judge: ScriptedLLM) -> None:
    judge.mode = "error500"
    scores = ragas_adapter.judged_scores(RECORDS, base_url=judge.url, model="scripted", timeout_s=10)
    assert all(s["failure_rate"] == 1.0 and (s["mean"] is None or math.isnan(s["mean"])) for s in scores)
