"""Learn the extractive picker's sentence-score weights: `regassist eval fit-picker`.

A small ranking model over the picker's measured features (`assistant.extractive.FEATURES`: embedding
similarity, rare-word overlap, source rank, gives a quantity, defines the asked term, lead-in, list item,
table row). For every answerable question of the training sets, every candidate sentence of its evidence
is a row, labelled by whether it is part of a gold quote (same file, and at least 60% of its words inside
the quote). A logistic regression (scikit-learn, fixed seed, balanced classes) is fitted; its weights are
rescaled so that the first three sum to one, as the hand-set ones do, so the composition rules keep their
meaning. The weights are kept (`"use": true`) only if they beat the hand-set ones on `bundled2-dev`
(key-fact recall, then gold page cited), which is not among the training sets. `bundled3-test` is never read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from assistant import extractive
from assistant.service import Assistant
from evals.questions import load_questions, resolve_set
from evals.runner import run_set
from ingest.lexical import tokenize
from ingest.pipeline import Index
from ingest.settings import IngestSettings

TRAINING_SETS = ("bundled-dev", "bundled-test", "bundled2-test")
CHECK_SET = "bundled2-dev"
SEED = 20261202


def rows(assistant: Assistant, sets: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and labels of every candidate sentence of every answerable training question."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for name in sets:
        for q in load_questions(resolve_set(name)):
            if not q.answerable or not q.evidence:
                continue
            # Retrieved and scored as an answer is (the query with its acronym expansions).
            query, _, qvec, evidence = assistant.retrieve(q.question)
            scored = extractive.score_candidates(
                query, evidence, assistant._encode, assistant._idf, qvec, assistant.heads.vectors
            )
            if scored is None:
                continue
            cands, features = scored[0], scored[1]
            gold = [(g.file, set(tokenize(g.quote))) for g in q.evidence]
            labels = []
            for c in cands:
                words = set(tokenize(c.chunk.text[c.start : c.end]))
                labels.append(any(f == c.chunk.file and words and len(words & g) >= 0.6 * len(words) for f, g in gold))
            xs.append(features)
            ys.append(np.array(labels, dtype=int))
    return np.vstack(xs), np.concatenate(ys)


def fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Weights on the score's scale (dense + lexical + prior = 1)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=SEED).fit(x, y)
    w = model.coef_[0]
    scale = float(w[0] + w[1] + w[2]) or 1.0
    return {k: round(float(v) / scale, 6) for k, v in zip(extractive.FEATURES, w, strict=True)}


def _quality(assistant: Assistant) -> tuple[float, float]:
    path = resolve_set(CHECK_SET)
    run = run_set(assistant, load_questions(path), path, resamples=50)
    m = run.summary["metrics"]
    ans = [r for r in run.records if r["answerable"]]
    cites = sum(any(c["gold_page"] for c in r["citations"]) and not r["abstained"] for r in ans) / len(ans)
    return float(m["key_fact_recall"]["value"]), cites


def main(out: Path = extractive.PICKER_FILE) -> None:
    """Fit, compare with the hand-set weights on the check set, and write the file."""
    console = Console()
    assistant = Assistant(Index(IngestSettings()))
    x, y = rows(assistant, TRAINING_SETS)
    learned = fit(x, y)
    doc: dict[str, Any] = {
        "about": "Sentence-score weights of the extractive picker; written by `regassist eval fit-picker`.",
        "training_sets": list(TRAINING_SETS),
        "rows": len(y),
        "positives": int(y.sum()),
        "weights": learned,
        "use": False,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    extractive.weights.cache_clear()
    hand = _quality(assistant)
    doc["use"] = True
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    extractive.weights.cache_clear()
    new = _quality(assistant)
    doc["check"] = {
        "set": CHECK_SET,
        "hand": {"key_fact_recall": round(hand[0], 4), "cites_gold_page": round(hand[1], 4)},
        "learned": {"key_fact_recall": round(new[0], 4), "cites_gold_page": round(new[1], 4)},
    }
    doc["use"] = new > hand
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    extractive.weights.cache_clear()
    console.print(f"{len(y)} rows, {int(y.sum())} positive; weights {learned}")
    console.print(f"{CHECK_SET}: hand {hand}, learned {new}; using {'learned' if doc['use'] else 'hand-set'} weights")
