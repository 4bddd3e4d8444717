"""Run a question set through the assistant, score every answer, and summarise with intervals."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.service import Assistant
from assistant.types import Answer, Evidence
from evals.metrics import (
    Record,
    abstention_confusion,
    average_precision_at,
    bootstrap,
    dedupe,
    harness_facts,
    hit_at,
    mean_of,
    normalise,
    percentile,
    ratio_of,
    recall_at,
    reciprocal_rank,
)
from evals.questions import Question
from ingest.catalog import Catalog
from ingest.errors import RegassistError
from ingest.types import Chunk

LEVELS = ("document", "page", "chunk")
KS = (1, 3, 5, 10)
RETRIEVAL_K = 10
ROOT = Path(__file__).resolve().parent.parent


# --- gold -------------------------------------------------------------------------------------
def gold_chunks(catalog: Catalog, q: Question) -> set[str]:
    """Ids of the live chunks that hold a gold quote (its start or its end, since quotes may straddle chunks)."""
    out: set[str] = set()
    for g in q.evidence:
        row = catalog.document_by_file(g.file)
        if row is None:
            continue
        quote = normalise(g.quote)
        ends = {quote[:60], quote[-60:]}
        for c in catalog.chunks_of_document(row["document_id"]):
            if c.page_start <= g.page <= c.page_end and any(e in normalise(c.text) for e in ends):
                out.add(c.chunk_id)
    return out


def rankings(evidence: Sequence[Evidence]) -> dict[str, list[Any]]:
    """The retrieved passages as ranked lists of documents, pages and chunks."""
    chunks: list[Chunk] = [c for e in evidence for c in e.chunks]
    return {
        "document": dedupe([c.file for c in chunks]),
        "page": dedupe([(c.file, p) for c in chunks for p in range(c.page_start, c.page_end + 1)]),
        "chunk": dedupe([c.chunk_id for c in chunks]),
    }


# --- one question ------------------------------------------------------------------------------
def score_question(q: Question, answer: Answer, evidence: Sequence[Evidence], catalog: Catalog) -> Record:
    """Everything the report needs about one answer, with per-question metric values."""
    gold: dict[str, set[Any]] = {
        "document": {g.file for g in q.evidence},
        "page": {(g.file, g.page) for g in q.evidence},
        "chunk": gold_chunks(catalog, q),
    }
    ranked = rankings(evidence)
    rec: Record = {
        "id": q.id,
        "kind": q.kind,
        "question": q.question,
        "answerable": q.answerable,
        "reference_answer": q.reference_answer,
        "gold": [{"file": g.file, "page": g.page, "quote": g.quote} for g in q.evidence],
        "abstained": answer.abstained,
        "abstain_reason": answer.abstain_reason,
        "answer": answer.answer,
        "warnings": list(answer.warnings),
        "latency_ms": answer.latency_ms.get("total", 0.0),
        "retrieved": [{"file": f, "page": p} for f, p in ranked["page"][:RETRIEVAL_K]],
        "contexts": [e.text for e in answer.retrieval],
        "decision": answer.searched.get("decision"),
    }
    if q.answerable:
        for level in LEVELS:
            g, r = gold[level], ranked[level]
            for k in KS:
                rec[f"{level}_hit@{k}"] = hit_at(r, g, k)
                rec[f"{level}_recall@{k}"] = recall_at(r, g, k)
            rec[f"{level}_mrr"] = reciprocal_rank(r, g)
            rec[f"{level}_map@10"] = average_precision_at(r, g, 10)

    # Citations: verbatim quotes, and pages against the gold pages.
    live = catalog.chunks_by_id([c.chunk_id for c in answer.citations])
    cites: list[dict[str, Any]] = []
    for c in answer.citations:
        chunk = live.get(c.chunk_id)
        verbatim = chunk is not None and chunk.text[c.quote_start : c.quote_end] == c.quote
        cites.append(
            {
                "n": c.n,
                "file": c.file,
                "title": c.title,
                "page": c.page,
                "section": c.section,
                "quote": c.quote,
                "verbatim": verbatim,
                "gold_page": (c.file, c.page) in gold["page"],
            }
        )
    rec["citations"] = cites
    rec["quotes_total"] = len(cites)
    rec["quotes_verbatim"] = sum(c["verbatim"] for c in cites)
    if q.answerable and not answer.abstained and cites:
        rec["citation_precision"] = sum(c["gold_page"] for c in cites) / len(cites)
    if q.answerable:
        cited_pages = {(c["file"], c["page"]) for c in cites}
        rec["citation_recall"] = len(cited_pages & gold["page"]) / len(gold["page"])

    # Claims: the assistant's own verdicts, and the harness's independent check of quotes and hard facts.
    by_n = {c["n"]: c for c in cites}
    claims = []
    for cl in answer.claims:
        quotes: list[dict[str, Any]] = [by_n[n] for n in cl.citations if n in by_n]
        text = " ".join(normalise(str(x["quote"])) for x in quotes).lower()
        missing = [f for f in harness_facts(cl.text) if f not in text]
        harness_ok = bool(quotes) and all(x["verbatim"] for x in quotes) and not missing
        claims.append(
            {
                "text": cl.text,
                "citations": list(cl.citations),
                "supported": cl.supported,
                "reason": cl.reason,
                "harness_supported": harness_ok,
                "harness_missing": missing,
            }
        )
    shown = [] if answer.abstained else claims
    rec["claims"] = claims
    rec["claims_total"] = len(shown)
    rec["claims_unsupported_own"] = sum(not c["supported"] for c in shown)
    rec["claims_unsupported_harness"] = sum(not c["harness_supported"] for c in shown)

    if q.answerable and q.key_facts:
        text = normalise(answer.answer).lower()
        rec["key_fact_recall"] = (
            0.0 if answer.abstained else (sum(normalise(f).lower() in text for f in q.key_facts) / len(q.key_facts))
        )
    if q.kind == "false_premise":
        corrected = not answer.abstained and any("premise" in w.lower() for w in answer.warnings)
        rec["premise_outcome"] = "corrected" if corrected else ("abstained" if answer.abstained else "accepted")
        rec["premise_corrected"] = float(corrected)
    rec["correct"] = float(
        answer.abstained if not q.answerable else (not answer.abstained and any(c["gold_page"] for c in cites))
    )
    return rec


# --- summary ----------------------------------------------------------------------------------
# name -> (metric over records, higher is better)
def _answerable(r: Record) -> bool:
    return bool(r["answerable"])


METRICS: dict[str, tuple[Callable[[Sequence[Record]], float | None], bool]] = {
    "correct": (mean_of("correct"), True),
    **{
        f"{level}_{m}": (mean_of(f"{level}_{m}", _answerable), True)
        for level in LEVELS
        for m in [*(f"hit@{k}" for k in KS), *(f"recall@{k}" for k in KS), "mrr", "map@10"]
    },
    "citation_precision": (mean_of("citation_precision"), True),
    "citation_recall": (mean_of("citation_recall"), True),
    "quote_verbatim_rate": (ratio_of("quotes_verbatim", "quotes_total"), True),
    "claim_support_rate_own": (
        lambda rs: None if (v := ratio_of("claims_unsupported_own", "claims_total")(rs)) is None else 1 - v,
        True,
    ),
    "hallucination_rate_own": (ratio_of("claims_unsupported_own", "claims_total"), False),
    "claim_support_rate_harness": (
        lambda rs: None if (v := ratio_of("claims_unsupported_harness", "claims_total")(rs)) is None else 1 - v,
        True,
    ),
    "hallucination_rate_harness": (ratio_of("claims_unsupported_harness", "claims_total"), False),
    "key_fact_recall": (mean_of("key_fact_recall"), True),
    "abstention_mcc": (lambda rs: abstention_confusion(rs).mcc, True),
    "abstention_precision": (lambda rs: abstention_confusion(rs).precision, True),
    "abstention_recall": (lambda rs: abstention_confusion(rs).recall, True),
    "false_refusal_rate": (
        lambda rs: (
            (sum(r["abstained"] for r in rs if r["answerable"]) / n)
            if (n := sum(r["answerable"] for r in rs))
            else None
        ),
        False,
    ),
    "premise_corrected_rate": (mean_of("premise_corrected"), True),
}


def summarise(records: Sequence[Record], resamples: int = 1000) -> dict[str, Any]:
    """Every metric with its interval, the abstention confusion matrix, per-kind breakdown and latency."""
    metrics = {}
    for name, (fn, higher) in METRICS.items():
        est = bootstrap(records, fn, resamples=resamples)
        if est is not None:
            metrics[name] = {**est.to_dict(), "higher_is_better": higher}
    lat = [r["latency_ms"] for r in records]
    kinds: dict[str, dict[str, Any]] = {}
    for kind in sorted({r["kind"] for r in records}):
        rs = [r for r in records if r["kind"] == kind]
        kinds[kind] = {
            "n": len(rs),
            "correct": mean_of("correct")(rs),
            "page_hit@5": mean_of("page_hit@5", _answerable)(rs),
            "abstained": sum(r["abstained"] for r in rs) / len(rs),
            "key_fact_recall": mean_of("key_fact_recall")(rs),
        }
    premise = [r.get("premise_outcome") for r in records if "premise_outcome" in r]
    return {
        "n": len(records),
        "metrics": metrics,
        "abstention_confusion": abstention_confusion(records).to_dict(),
        "abstain_reasons": {
            k: sum(r["abstain_reason"] == k for r in records)
            for k in sorted({r["abstain_reason"] for r in records if r["abstain_reason"]})
        },
        "per_kind": kinds,
        "false_premise": {k: premise.count(k) for k in ("corrected", "abstained", "accepted")},
        "latency_ms": {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "max": max(lat) if lat else 0.0},
    }


# --- provenance ---------------------------------------------------------------------------------
def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def pinned_corpus(corpus_dir: Path, catalog: Catalog) -> dict[str, str]:
    """The bundled corpus the question sets were written on, as file -> document id (the hash of its bytes),
    each checked to be in the index. A run searches exactly these versions: a document uploaded since, or a
    changed copy of a bundled one, cannot move the benchmark; a bundled document missing from the index, or
    indexed as another version, stops the run with its name."""
    from ingest.chunking import document_id
    from ingest.manifest import load_manifest

    pins: dict[str, str] = {}
    for name in sorted(load_manifest(corpus_dir)):
        path = corpus_dir / name
        if not path.is_file():
            continue
        doc = document_id(path.read_bytes())
        if catalog.document(doc) is None:
            live = catalog.document_by_file(name)
            state = "another version of it" if live is not None else "no copy of it"
            raise RegassistError(
                f"The question sets were written on {name} as bundled in {corpus_dir.name}/, and the index holds "
                f"{state}: ingest {corpus_dir.name}/ again before evaluating, so the run measures the corpus it "
                "was defined on"
            )
        pins[name] = doc
    if not pins:
        raise RegassistError(f"{corpus_dir.name}/ has no bundled documents listed in its manifest to evaluate on")
    return pins


def versions(assistant: Assistant, set_path: Path, pinned: dict[str, str] | None = None) -> dict[str, Any]:
    """What this run ran on: code, model, prompt, index, corpus, question set, settings, machine."""
    from importlib.metadata import PackageNotFoundError, version

    index = assistant.index
    docs = (
        sorted(pinned.items()) if pinned else sorted((r["file"], r["document_id"]) for r in index.catalog.documents())
    )
    try:
        pkg = version("regassist")
    except PackageNotFoundError:
        pkg = "unknown"
    return {
        "code": {"package": pkg, "commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "--porcelain"))},
        "embed_model": index.identity.embed_model,
        "chunker_version": index.identity.chunker_version,
        "index_generation": index.catalog.generation(),
        "corpus": {
            "documents": len(docs),
            "sha256": hashlib.sha256(json.dumps(docs).encode()).hexdigest()[:16],
            "pinned": bool(pinned),
        },
        "question_set": {"path": str(set_path), "sha256": hashlib.sha256(set_path.read_bytes()).hexdigest()[:16]},
        "backend": assistant.backend_name,
        "settings": assistant.settings.model_dump(exclude={"llm_api_key"}),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


@dataclass
class Run:
    """A finished evaluation run."""

    set_path: Path
    records: list[Record]
    summary: dict[str, Any]
    versions: dict[str, Any]
    started: str
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": str(self.set_path),
            "started": self.started,
            "seconds": round(self.seconds, 2),
            "versions": self.versions,
            "summary": self.summary,
            "records": self.records,
            **self.extra,
        }


def run_set(
    assistant: Assistant,
    questions: Sequence[Question],
    set_path: Path,
    progress: Callable[[int, int, Record], None] | None = None,
    resamples: int = 1000,
    pinned: dict[str, str] | None = None,
) -> Run:
    """Ask every question, score it, and summarise; with `pinned`, in those document versions only."""
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with tempfile.TemporaryDirectory(prefix="regassist-pinned-") as tmp:
        if pinned:
            # A view of the pinned versions with its own BM25 index: an upload since changes neither what
            # is found nor its term statistics.
            view = assistant.index.pinned(set(pinned.values()), Path(tmp))
            assistant = Assistant(view, assistant.settings, assistant.chat, assistant.abstention)
        records = []
        for i, q in enumerate(questions, start=1):
            answer = assistant.ask(q.question)
            evidence = assistant.searcher.search(q.question, k=RETRIEVAL_K)
            rec = score_question(q, answer, evidence, assistant.index.catalog)
            records.append(rec)
            if progress:
                progress(i, len(questions), rec)
    return Run(
        set_path,
        records,
        summarise(records, resamples),
        versions(assistant, set_path, pinned),
        started,
        time.perf_counter() - t0,
    )
