"""Hybrid retrieval: dense (Chroma) and lexical (BM25) fused by reciprocal rank, filtered, de-duplicated."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from assistant.types import Evidence
from assistant.verify import hard_facts
from ingest.lexical import LexicalIndex
from ingest.pipeline import Index
from ingest.types import Chunk
from ingest.vectorstore import ChromaStore

# Filter masks kept per searcher: a conversation's follow-ups filter by its own documents, so there are
# as many filters as active conversations; each mask is one byte a chunk.
MASK_CACHE = 32
_KEYS = ("issuing_body", "jurisdiction", "doc_type", "status", "document_id")


@dataclass(frozen=True)
class Filters:
    """Metadata filters on the documents searched; empty fields do not filter."""

    issuing_body: tuple[str, ...] = ()
    jurisdiction: tuple[str, ...] = ()
    doc_type: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    # Named documents only: a follow-up searches the documents its conversation's previous answer drew on.
    document_id: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return not (
            self.issuing_body
            or self.jurisdiction
            or self.doc_type
            or self.status
            or self.document_id
            or self.year_min is not None
            or self.year_max is not None
        )

    def chroma_where(self) -> dict[str, Any] | None:
        """The same filters as a Chroma `where` clause."""
        clauses: list[dict[str, Any]] = []
        for key in _KEYS:
            values = getattr(self, key)
            if values:
                clauses.append({key: {"$in": list(values)}})
        if self.year_min is not None:
            clauses.append({"year": {"$gte": self.year_min}})
        if self.year_max is not None:
            clauses.append({"year": {"$lte": self.year_max}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def allows(self, row: Any) -> bool:
        """Whether a catalog row (issuing_body, jurisdiction, doc_type, status, year) passes."""
        for key in _KEYS:
            values = getattr(self, key)
            if values and row[key] not in values:
                return False
        year = row["year"]
        if self.year_min is not None and (year is None or year < self.year_min):
            return False
        return not (self.year_max is not None and (year is None or year > self.year_max))


class Reranker(Protocol):
    """Scores (question, passage) pairs; a cross-encoder loaded from a local path fits here."""

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, higher is better."""
        ...


@dataclass
class RetrievalConfig:
    """How candidates are gathered and fused."""

    k: int = 8
    candidates: int = 40
    # "convex": alpha * dense + (1 - alpha) * BM25, each min-max normalised over the union of both
    # candidate lists, with each candidate's missing score computed exactly. "rrf": weighted reciprocal
    # rank fusion. See README, "Retrieval levers", for the measurements behind the default.
    fusion: Literal["convex", "rrf"] = "convex"
    alpha: float = 0.3
    rrf_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    near_duplicate_jaccard: float = 0.85
    merge_neighbours: bool = True


@dataclass
class HybridSearcher:
    """Dense and lexical search over one Index, fused with weighted reciprocal rank fusion."""

    index: Index
    config: RetrievalConfig = field(default_factory=RetrievalConfig)
    reranker: Reranker | None = None
    _mask_cache: dict[tuple[int, Filters], np.ndarray] = field(default_factory=dict)
    _mask_lock: threading.Lock = field(default_factory=threading.Lock)

    def embed_query(self, question: str) -> np.ndarray:
        """The question's vector."""
        vec: np.ndarray = self.index.embedder.encode([question])[0]
        return vec

    def search(
        self, question: str, filters: Filters | None = None, k: int | None = None, qvec: np.ndarray | None = None
    ) -> list[Evidence]:
        """The k best passages for a question."""
        cfg = self.config
        k = k or cfg.k
        filters = filters or Filters()
        self.index.refresh_lexical()
        if qvec is None:
            qvec = self.embed_query(question)
        dense = self.index.vectors.query(qvec, cfg.candidates, filters.chroma_where())
        mask = None if filters.is_empty() else self._mask(filters)
        lexical = self.index.lexical.query(question, cfg.candidates, mask)
        dense_score = dict(dense)
        lex_score = dict(lexical)
        if cfg.fusion == "convex":
            complete_scores(self.index.vectors, self.index.lexical, question, qvec, dense_score, lex_score)
            fused = convex_fuse(dense_score, lex_score, cfg.alpha)
        else:
            fused = rrf_fuse(((cfg.dense_weight, dense), (cfg.lexical_weight, lexical)), cfg.rrf_k)
        # The catalog decides what is live: a vector or term of a replaced document is never returned.
        chunks = self.index.catalog.chunks_by_id(fused)
        order = sorted((cid for cid in fused if cid in chunks), key=lambda c: -fused[c])
        if self.reranker is not None and order:
            top = order[: cfg.candidates]
            scores = self.reranker.score(question, [chunks[c].text for c in top])
            order = [c for _, c in sorted(zip(scores, top, strict=True), key=lambda t: -t[0])]
        picked = _collapse_near_duplicates([chunks[c] for c in order], cfg.near_duplicate_jaccard, k)
        evidence = [
            Evidence((c,), fused[c.chunk_id], dense_score.get(c.chunk_id, 0.0), lex_score.get(c.chunk_id, 0.0))
            for c in picked
        ]
        return _merge_neighbours(evidence) if cfg.merge_neighbours else evidence

    def _mask(self, filters: Filters) -> np.ndarray:
        """The BM25 mask of the chunks `filters` allow, cached for the MASK_CACHE most recent filters of
        this generation. Searches run in threads, so the cache is read and written under a lock and the
        mask returned is the one looked up or built here, never re-read from the cache."""
        key = (self.index.lexical.generation, filters)
        with self._mask_lock:
            mask = self._mask_cache.pop(key, None)
            if mask is not None:
                self._mask_cache[key] = mask  # the most recently used goes last
                return mask
        allowed = {r["chunk_id"] for r in self.index.catalog.filter_mask_rows() if filters.allows(r)}
        mask = self.index.lexical.mask_for(allowed)
        with self._mask_lock:
            for old in [k for k in self._mask_cache if k[0] != key[0]]:
                del self._mask_cache[old]  # another generation's masks are of no further use
            self._mask_cache[key] = mask
            while len(self._mask_cache) > MASK_CACHE:
                del self._mask_cache[next(iter(self._mask_cache))]
        return mask


def rrf_fuse(rankings: Sequence[tuple[float, Sequence[tuple[str, float]]]], k: int = 60) -> dict[str, float]:
    """Weighted reciprocal rank fusion: each ranking adds weight / (k + rank) to its items."""
    fused: dict[str, float] = {}
    for weight, ranked in rankings:
        for rank, (cid, _) in enumerate(ranked):
            fused[cid] = fused.get(cid, 0.0) + weight / (k + rank + 1)
    return fused


def complete_scores(
    vectors: ChromaStore,
    lexical_index: LexicalIndex,
    question: str,
    qvec: np.ndarray,
    dense: dict[str, float],
    lexical: dict[str, float],
) -> None:
    """Give every candidate both scores: the cosine of lexical-only ones, the BM25 of dense-only ones.

    Convex fusion needs them: a passage missing from one top-40 list would otherwise score that list's
    minimum, which cost 0.003 Recall@10 and 0.004 MAP@10 on ObliQA dev.
    """
    for cid, vec in vectors.vectors([c for c in lexical if c not in dense]).items():
        dense[cid] = float(vec @ qvec)
    lexical.update(lexical_index.scores_of(question, [c for c in dense if c not in lexical]))


def convex_fuse(dense: dict[str, float], lexical: dict[str, float], alpha: float) -> dict[str, float]:
    """alpha * dense + (1 - alpha) * lexical, each min-max normalised over the candidates; a missing score is 0."""

    def scaled(scores: dict[str, float]) -> dict[str, float]:
        if not scores:
            return {}
        lo, hi = min(scores.values()), max(scores.values())
        return {c: (s - lo) / (hi - lo) if hi > lo else 1.0 for c, s in scores.items()}

    d, lx = scaled(dense), scaled(lexical)
    return {c: alpha * d.get(c, 0.0) + (1 - alpha) * lx.get(c, 0.0) for c in d.keys() | lx.keys()}


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))


def _collapse_near_duplicates(chunks: list[Chunk], threshold: float, limit: int) -> list[Chunk]:
    """The first `limit` chunks, in order, keeping only the best of chunks whose word sets overlap above
    `threshold` (repeated boilerplate, reissues).

    Two passages that differ in a number, date or reference are never duplicates: a reissue that
    changed "5 years" to "10 years" is exactly what a reader must see. Candidates past the limit are
    never looked at, and a chunk's facts are read only when its words make it a near-duplicate: this
    was 14 of a search's 34 ms at 100,000 chunks.
    """
    kept: list[tuple[Chunk, frozenset[str]]] = []
    facts: dict[str, frozenset[str]] = {}

    def facts_of(c: Chunk) -> frozenset[str]:
        if c.chunk_id not in facts:
            facts[c.chunk_id] = frozenset(hard_facts(c.text))
        return facts[c.chunk_id]

    for c in chunks:
        if len(kept) >= limit:
            break
        w = _words(c.text)
        near = [k for k, kw in kept if len(w & kw) / max(1, len(w | kw)) >= threshold]
        if any(facts_of(c) == facts_of(k) for k in near):
            continue
        kept.append((c, w))
    return [c for c, _ in kept]


def _merge_neighbours(evidence: list[Evidence]) -> list[Evidence]:
    """Merge retrieved chunks that are adjacent in the same section of the same document."""
    out: list[Evidence] = []
    for e in evidence:
        c = e.chunk
        for i, prev in enumerate(out):
            first, last = prev.chunks[0], prev.chunks[-1]
            if first.document_id != c.document_id or first.heading_path != c.heading_path:
                continue
            if c.ordinal == last.ordinal + 1:
                out[i] = Evidence(
                    (*prev.chunks, c),
                    prev.score + e.score,
                    max(prev.dense_score, e.dense_score),
                    max(prev.lexical_score, e.lexical_score),
                )
                break
            if c.ordinal == first.ordinal - 1:
                out[i] = Evidence(
                    (c, *prev.chunks),
                    prev.score + e.score,
                    max(prev.dense_score, e.dense_score),
                    max(prev.lexical_score, e.lexical_score),
                )
                break
        else:
            out.append(e)
    return out


def __getattr__(name: str) -> Any:
    # LangChain's retriever base imports its tracers (about a second); only LangChain users pay for it.
    if name == "RegassistRetriever":
        from assistant.langchain_retriever import RegassistRetriever

        return RegassistRetriever
    raise AttributeError(name)
