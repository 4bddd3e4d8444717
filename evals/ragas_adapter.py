"""The one place regassist talks to ragas (0.4.x).

Non-LLM metrics always run. LLM-judged metrics run only when a judge endpoint (OpenAI-compatible) is
configured; a small judge often returns output that does not parse, which ragas scores as NaN, so each
judged score comes with its judge failure rate and is the mean over the questions the judge did score.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from evals.metrics import Record

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")


def samples(records: Sequence[Record]) -> list[Any]:
    """ragas samples from answered, answerable questions (a refusal has no response to judge)."""
    from ragas import SingleTurnSample

    out = []
    for r in records:
        if not r["answerable"] or r["abstained"]:
            continue
        out.append(
            SingleTurnSample(
                user_input=r["question"],
                response=r["answer"],
                retrieved_contexts=r.get("contexts") or [c["quote"] for c in r["citations"]] or [""],
                reference=r["reference_answer"],
                reference_contexts=[g["quote"] for g in r["gold"]],
            )
        )
    return out


def _summarise(name: str, values: Sequence[float]) -> dict[str, Any]:
    ok = [v for v in values if v is not None and not math.isnan(v)]
    return {
        "metric": name,
        "mean": float(np.mean(ok)) if ok else None,
        "scored": len(ok),
        "n": len(values),
        "failure_rate": 1 - len(ok) / len(values) if values else None,
    }


def non_llm_scores(records: Sequence[Record]) -> list[dict[str, Any]]:
    """NonLLMContextRecall, NonLLMContextPrecisionWithReference, string similarity, ROUGE and BLEU."""
    from ragas.metrics import (
        BleuScore,
        NonLLMContextPrecisionWithReference,
        NonLLMContextRecall,
        NonLLMStringSimilarity,
        RougeScore,
    )

    ss = samples(records)
    out = []
    for metric in (
        NonLLMContextRecall(),
        NonLLMContextPrecisionWithReference(),
        NonLLMStringSimilarity(),
        RougeScore(),
        BleuScore(),
    ):
        values = []
        for s in ss:
            try:
                values.append(float(metric.single_turn_score(s)))
            except Exception:  # a metric failing on one sample is a NaN, as ragas itself records it
                values.append(float("nan"))
        out.append(_summarise(metric.name, values))
    return out


def judged_scores(
    records: Sequence[Record],
    base_url: str,
    model: str,
    api_key: str = "not-needed",
    embed: Any | None = None,
    timeout_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Faithfulness, answer relevancy, context precision and recall, factual correctness, by an LLM judge."""
    from langchain_core.embeddings import Embeddings
    from langchain_openai import ChatOpenAI
    from ragas import EvaluationDataset, evaluate
    from ragas.embeddings import LangchainEmbeddingsWrapper
    from ragas.llms import LangchainLLMWrapper
    from ragas.metrics import (
        FactualCorrectness,
        Faithfulness,
        LLMContextPrecisionWithReference,
        LLMContextRecall,
        ResponseRelevancy,
    )
    from ragas.run_config import RunConfig

    class _Local(Embeddings):
        """regassist's own embedder for answer relevancy (no hub download)."""

        def __init__(self, encode: Any) -> None:
            self.encode = encode

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [list(map(float, v)) for v in self.encode(texts)]

        def embed_query(self, text: str) -> list[float]:
            return self.embed_documents([text])[0]

    ss = samples(records)
    metrics = [Faithfulness(), LLMContextPrecisionWithReference(), LLMContextRecall(), FactualCorrectness()]
    if embed is not None:
        metrics.insert(1, ResponseRelevancy())
    judge = LangchainLLMWrapper(
        ChatOpenAI(
            base_url=base_url,
            model=model,
            api_key=api_key,  # type: ignore[arg-type]
            temperature=0,
            timeout=timeout_s,
            max_retries=0,
        )
    )
    result = evaluate(
        EvaluationDataset(samples=ss),
        metrics=metrics,
        llm=judge,
        embeddings=LangchainEmbeddingsWrapper(_Local(embed)) if embed is not None else None,
        run_config=RunConfig(timeout=int(timeout_s), max_retries=0, max_workers=2),
        raise_exceptions=False,
        show_progress=False,
    )
    frame = result.to_pandas()  # type: ignore[union-attr]
    out = []
    for m in metrics:
        # Some columns carry their mode, e.g. "factual_correctness(mode=f1)".
        col = next((c for c in frame.columns if c == m.name or c.startswith(m.name + "(")), None)
        values = [float(x) for x in frame[col]] if col else [float("nan")] * len(ss)
        out.append(_summarise(m.name, values))
    return out
