"""Fine-tune all-MiniLM-L6-v2 on ObliQA dev question-passage pairs, on the CPU, reproducibly.

Dev is split by a hash of each question's ID: about 80% of its questions train the model and the
rest (`dev-holdout`, see `evals.obliqa.in_holdout`) stay unseen, so choices made with the
fine-tuned model (epochs, fusion weights) are tuned on questions it never saw. Test is never
read. The loss is sentence-transformers' MultipleNegativesRankingLoss: each question against its
gold passage, with the other passages of the batch as negatives, and optionally one BM25-mined
hard negative per pair.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.obliqa import embed_text, in_holdout, load_corpus, load_split
from ingest.errors import ConfigError
from ingest.lexical import LexicalIndex
from ingest.model_files import DEFAULT_MODEL, resolve_model_path


def training_pairs(folder: Path, hard_negatives: int, work: Path) -> list[dict[str, str]]:
    """(question, gold passage[, hard negative]) rows from the training part of dev."""
    passages, _ = load_corpus(folder)
    by_id = {p["ID"]: p for p in passages}
    questions, gold = load_split(folder, "dev")
    lexical: LexicalIndex | None = None
    if hard_negatives:
        lexical = LexicalIndex(work / "lexical")
        if not lexical.load() or len(lexical) != len(passages):
            lexical.build(((p["ID"], p["Passage"]) for p in passages), generation=1)
    rows: list[dict[str, str]] = []
    for q in questions:
        qid = q["QuestionID"]
        if qid not in gold or in_holdout(qid):
            continue
        golds = sorted(g for g in gold[qid] if g in by_id)
        negs: list[str] = []
        if lexical is not None:
            negs = [pid for pid, _ in lexical.query(q["Question"], 30) if pid not in gold[qid]][:hard_negatives]
        for i, g in enumerate(golds):
            row = {"anchor": q["Question"], "positive": embed_text(by_id[g])}
            if negs:
                row["negative"] = embed_text(by_id[negs[i % len(negs)]])
            rows.append(row)
    return rows


def finetune(
    folder: Path,
    out: Path,
    work: Path,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    hard_negatives: int = 0,
    seed: int = 13,
    progress: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Train and save the model to `out`; returns what was trained on and how, also written to `out`."""
    try:
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformer,
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        from sentence_transformers.training_args import BatchSamplers
        from transformers import set_seed
    except ImportError as exc:
        raise ConfigError(f"fine-tuning needs the finetune extra: pip install -e '.[finetune]' ({exc})") from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    random.seed(seed)
    set_seed(seed)
    rows = training_pairs(folder, hard_negatives, work)
    progress(f"{len(rows):,} training pairs from the non-held-out part of ObliQA dev")
    model = SentenceTransformer(str(resolve_model_path(DEFAULT_MODEL)), device="cpu", local_files_only=True)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=0.1,  # a float is a share of the steps
        seed=seed,
        data_seed=seed,
        # Questions with several gold passages appear in several rows; one batch must not hold two of
        # them, or a question's other gold passage would be scored as its negative.
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        logging_steps=20,
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        loss=MultipleNegativesRankingLoss(model),
    )
    trainer.train()
    model.save(str(out))
    info = {
        "base_model": DEFAULT_MODEL,
        "data": "ObliQA dev, questions outside the held-out fifth (sha256(QuestionID) % 100 >= 20)",
        "pairs": len(rows),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "hard_negatives": hard_negatives,
        "seed": seed,
        "loss": "MultipleNegativesRankingLoss",
    }
    (out / "regassist-finetune.json").write_text(json.dumps(info, indent=1))
    return info
