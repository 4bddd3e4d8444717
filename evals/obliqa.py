"""ObliQA (RIRAG shared task) retrieval: its 40 documents in their own index, scored with Recall@10 and MAP@10.

The dataset stays outside the repository: pass its folder. Passages are keyed by their `ID` UUID and
gold passages come from `derived/qrels_{split}.trec`, as the dataset's README prescribes. Recall@10 and
MAP@10 follow trec_eval's `recall_10` and `map_cut_10`, averaged over questions, as in the shared task.
Tune on dev; report on test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from assistant.retrieval import RetrievalConfig, rrf_fuse
from evals.metrics import average_precision_at, percentile, recall_at
from ingest.embedding import SentenceTransformerEmbedder
from ingest.errors import RegassistError
from ingest.lexical import LexicalIndex
from ingest.vectorstore import ChromaStore, HNSWParams, IndexIdentity

PUBLISHED = {
    "BM25 (RIRAG baseline)": (0.7611, 0.6237),
    "LeSeR": (0.8201, 0.6655),
    "best hybrid (fine-tuned dense + BM25)": (0.8333, 0.7016),
}
INDEX_VERSION = "obliqa-v1"  # bump when the embedded text changes


class ObliQAMissing(RegassistError):
    """The ObliQA folder is absent or incomplete."""


def load_corpus(folder: Path) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Non-empty passages of the 40 documents, and each document's name."""
    docs = folder / "StructuredRegulatoryDocuments"
    if not docs.is_dir():
        raise ObliQAMissing(f"{folder}: no StructuredRegulatoryDocuments folder (is this the ObliQA dataset?)")
    names: dict[int, str] = {}
    dmap = folder / "document_map.json"
    if dmap.exists():
        for k, v in json.loads(dmap.read_text()).items():
            aliases = v.get("aliases") or [v.get("source_file_stem", "")]
            names[int(k)] = max(aliases, key=len)
    passages = []
    for path in sorted(docs.glob("*.json"), key=lambda p: int(p.stem)):
        for p in json.loads(path.read_text()):
            if p["Passage"].strip():
                passages.append(p)
    return passages, names


def load_split(folder: Path, split: str) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """Questions of a split and their gold passage UUIDs."""
    if split not in ("dev", "test"):
        raise ObliQAMissing(f"split must be dev or test, not {split!r}")
    qpath, qrels = folder / f"ObliQA_{split}.json", folder / "derived" / f"qrels_{split}.trec"
    for p in (qpath, qrels):
        if not p.exists():
            raise ObliQAMissing(f"{p}: missing")
    gold: dict[str, set[str]] = {}
    for line in qrels.read_text().splitlines():
        qid, _, pid, rel = line.split()
        if int(rel) > 0:
            gold.setdefault(qid, set()).add(pid)
    return json.loads(qpath.read_text()), gold


def embed_text(p: dict[str, Any], names: dict[int, str]) -> str:
    """What the dense index embeds: document name and passage number as context, then the passage."""
    return f"{names.get(p['DocumentID'], '')} {p['PassageID']}\n{p['Passage']}"


def build(
    folder: Path, work: Path, embedder: SentenceTransformerEmbedder, progress: Callable[[str], None]
) -> tuple[ChromaStore, LexicalIndex]:
    """The dense and lexical indexes of the ObliQA corpus, built once and reused."""
    passages, names = load_corpus(folder)
    work.mkdir(parents=True, exist_ok=True)
    identity = IndexIdentity(embed_model=embedder.name, dimension=embedder.dimension, chunker_version=INDEX_VERSION)
    store = ChromaStore("obliqa", identity, path=work / "chroma", hnsw=HNSWParams())
    lexical = LexicalIndex(work / "lexical")
    if store.count() != len(passages):
        progress(f"embedding {len(passages):,} ObliQA passages (once; a few minutes on 2 cores)")
        ids = [p["ID"] for p in passages]
        vecs = embedder.encode([embed_text(p, names) for p in passages])
        meta = [{"document_id": str(p["DocumentID"])} for p in passages]
        store.upsert(ids, vecs, meta)
    if not lexical.load() or len(lexical) != len(passages):
        lexical.build(((p["ID"], p["Passage"]) for p in passages), generation=1)
    return store, lexical


def evaluate(
    folder: Path, split: str, work: Path, limit: int | None = None, progress: Callable[[str], None] = lambda m: None
) -> list[dict[str, Any]]:
    """Recall@10 and MAP@10 of BM25, dense and hybrid on a split, with per-query latency."""
    if not folder.is_dir():
        raise ObliQAMissing(f"{folder}: no such folder; pass the ObliQA dataset folder")
    questions, gold = load_split(folder, split)
    questions = [q for q in questions if q["QuestionID"] in gold][:limit]
    embedder = SentenceTransformerEmbedder()
    store, lexical = build(folder, work, embedder, progress)
    cfg = RetrievalConfig()
    results: dict[str, list[list[str]]] = {"BM25": [], "dense": [], "hybrid (RRF)": []}
    times: dict[str, list[float]] = {k: [] for k in results}
    progress(f"querying {len(questions):,} {split} questions")
    for q in questions:
        text = q["Question"]
        t0 = time.perf_counter()
        lex = lexical.query(text, cfg.candidates)
        t1 = time.perf_counter()
        qvec = embedder.encode([text])[0]
        dense = store.query(np.asarray(qvec), cfg.candidates)
        t2 = time.perf_counter()
        fused = rrf_fuse(((cfg.dense_weight, dense), (cfg.lexical_weight, lex)), cfg.rrf_k)
        t3 = time.perf_counter()
        results["BM25"].append([i for i, _ in lex[:10]])
        results["dense"].append([i for i, _ in dense[:10]])
        results["hybrid (RRF)"].append(sorted(fused, key=lambda i: -fused[i])[:10])
        times["BM25"].append((t1 - t0) * 1000)
        times["dense"].append((t2 - t1) * 1000)
        times["hybrid (RRF)"].append((t3 - t0) * 1000)
    rows = []
    for system, ranked in results.items():
        golds = [gold[q["QuestionID"]] for q in questions]
        rows.append(
            {
                "system": system,
                "recall@10": float(np.mean([recall_at(r, g, 10) for r, g in zip(ranked, golds, strict=True)])),
                "map@10": float(np.mean([average_precision_at(r, g, 10) for r, g in zip(ranked, golds, strict=True)])),
                "n": len(questions),
                "p95_ms": percentile(times[system], 95),
                "model": "BM25 (bm25s, regassist tokenizer)" if system == "BM25" else embedder.name,
                "split": split,
            }
        )
    return rows
