"""`regassist eval obliqa-finetune`: the held-out fifth stays unseen, the seed fixes the weights."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np

from evals.finetune import finetune, training_pairs
from evals.obliqa import evaluate, in_holdout

TOPICS = [
    ("capital", "An Authorised Person must hold capital resources of at least its Base Capital Requirement."),
    ("liquidity", "A firm must maintain a liquidity buffer sufficient for thirty days of stressed outflows."),
    ("custody", "Client Investments held in custody must be segregated from the firm's own assets."),
    ("complaints", "A complaint must be acknowledged in writing within five business days of receipt."),
    ("records", "Transaction records must be retained for at least six years from the date of the transaction."),
    ("outsourcing", "A firm that outsources a material function remains responsible for its regulatory duties."),
    ("auditors", "The auditor must report to the Regulator any breach it finds of the Rules on client money."),
    ("marketing", "A financial promotion must be clear, fair and not misleading to its intended recipients."),
]


def tiny_obliqa(folder: Path) -> tuple[int, int]:
    """An ObliQA-shaped folder: one document, two questions per passage; returns (training, held-out) pairs."""
    (folder / "StructuredRegulatoryDocuments").mkdir(parents=True)
    (folder / "derived").mkdir()
    passages = [
        {"ID": str(uuid.UUID(int=i + 1)), "DocumentID": 1, "PassageID": f"1.{i + 1}", "Passage": text}
        for i, (_, text) in enumerate(TOPICS)
    ]
    (folder / "StructuredRegulatoryDocuments" / "1.json").write_text(json.dumps(passages))
    (folder / "document_map.json").write_text(json.dumps({"1": {"aliases": ["GEN", "General Rules"]}}))
    questions, qrels, train, held = [], [], 0, 0
    for i, (topic, _) in enumerate(TOPICS):
        for form in ("What must a firm do about {}?", "Which rule covers {} for an Authorised Person?"):
            qid = str(uuid.uuid5(uuid.NAMESPACE_URL, form + topic))
            p = passages[i]
            questions.append({"QuestionID": qid, "Question": form.format(topic), "Passages": [p], "Group": 1})
            qrels.append(f"{qid} 0 {p['ID']} 1")
            held, train = (held + 1, train) if in_holdout(qid) else (held, train + 1)
    (folder / "ObliQA_dev.json").write_text(json.dumps(questions))
    (folder / "derived" / "qrels_dev.trec").write_text("\n".join(qrels) + "\n")
    return train, held


def test_holdout_is_fixed_by_question_id_and_about_a_fifth() -> None:
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))) for i in range(5000)]
    share = sum(map(in_holdout, ids)) / len(ids)
    assert 0.18 < share < 0.22
    assert [in_holdout(i) for i in ids[:50]] == [in_holdout(i) for i in ids[:50]]


def test_finetune_trains_on_the_non_held_out_pairs_reproducibly(tmp_path: Path) -> None:
    data = tmp_path / "obliqa"
    train, held = tiny_obliqa(data)
    assert train and held, "the tiny set must have questions on both sides of the split"
    pairs = training_pairs(data, hard_negatives=1, work=tmp_path / "work")
    assert len(pairs) == train
    assert not {p["anchor"] for p in pairs} & {
        q["Question"] for q in json.loads((data / "ObliQA_dev.json").read_text()) if in_holdout(q["QuestionID"])
    }
    # A hard negative is another passage, never the gold one.
    assert all(p["negative"] != p["positive"] for p in pairs)

    a = finetune(data, tmp_path / "a", tmp_path / "work", epochs=1, batch_size=4, seed=7)
    finetune(data, tmp_path / "b", tmp_path / "work", epochs=1, batch_size=4, seed=7)
    assert a["pairs"] == train and a["seed"] == 7
    from safetensors.numpy import load_file

    wa, wb = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(np.array_equal(wa[k], wb[k]) for k in wa), "the same seed must give the same weights"
    from ingest.embedding import resolve_model_path

    base = load_file(str(resolve_model_path("all-MiniLM-L6-v2") / "model.safetensors"))
    assert any(not np.array_equal(wa[k], base[k]) for k in wa if k in base), "training changed nothing"

    # The runner scores the fine-tuned model on the held-out questions and says which model it was.
    rows = evaluate(data, "dev-holdout", tmp_path / "work", model=str(tmp_path / "a"))
    assert {r["n"] for r in rows} == {held}
    dense = next(r for r in rows if r["system"] == "dense")
    assert f"fine-tuned on {train} dev pairs, 1 epoch, 0 hard negatives, seed 7" in dense["model"]
