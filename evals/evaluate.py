"""One evaluation, start to finish: run a set, validate the claim check, score with ragas, apply the
thresholds, write results.json and report.html. The CLI and the web service both call this."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.service import Assistant
from evals.gates import check_thresholds, load_thresholds
from evals.questions import load_questions
from evals.report import render
from evals.runner import Run, run_set
from ingest.errors import RegassistError


@dataclass
class Evaluation:
    """A finished run, as written to disk, and how it fared against the thresholds."""

    run: Run
    data: dict[str, Any]
    failures: list[str] | None
    missed: list[str]
    bounds: dict[str, Any] | None


def evaluate(
    assistant: Assistant,
    path: Path,
    out_dir: Path,
    thresholds: Path | None = None,
    claims: bool = True,
    resamples: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    pinned: dict[str, str] | None = None,
) -> Evaluation:
    """Run the set at `path` and write the report to `out_dir`; with `pinned` (file -> document id), only
    those document versions are searched, whatever else the index holds."""
    questions = load_questions(path)
    bounds = load_thresholds(thresholds) if thresholds else None
    targets = load_thresholds(thresholds, "targets") if thresholds else {}
    index = assistant.index
    if not index.catalog.documents():
        raise RegassistError(f"The index in {index.data_dir} is empty: run `regassist ingest corpus` first")
    run = run_set(
        assistant, questions, path, (lambda i, n, _r: progress(i, n)) if progress else None, resamples, pinned
    )
    if claims:
        from evals.claims import PAIRS_DEV, PAIRS_TEST, load_pairs, validate

        run.extra["claim_check"] = validate(index.embedder.encode, load_pairs(PAIRS_DEV), load_pairs(PAIRS_TEST))
    from evals import ragas_adapter

    run.extra["ragas"] = {"non_llm": ragas_adapter.non_llm_scores(run.records)}
    judge_url = os.environ.get("REGASSIST_JUDGE_BASE_URL")
    if judge_url:
        run.extra["ragas"]["judge"] = {"base_url": judge_url, "model": os.environ.get("REGASSIST_JUDGE_MODEL")}
        run.extra["ragas"]["judged"] = ragas_adapter.judged_scores(
            run.records,
            judge_url,
            os.environ.get("REGASSIST_JUDGE_MODEL", "gpt-4o-mini"),
            os.environ.get("REGASSIST_JUDGE_API_KEY", "not-needed"),
            embed=index.embedder.encode,
        )
    data = run.to_dict()
    failures = check_thresholds(run.summary, bounds) if bounds is not None else None
    missed = check_thresholds(run.summary, targets) if targets else []
    if failures is not None:
        data["thresholds"] = {
            "file": str(thresholds),
            "bounds": bounds,
            "failures": failures,
            "targets": targets,
            "targets_missed": missed,
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str))
    (out_dir / "report.html").write_text(render(data, failures, bounds), encoding="utf-8")
    return Evaluation(run, data, failures, missed, bounds)
