"""Frozen records from retrieval to a verified, cited answer; `Answer.to_dict` is the output contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ingest.types import Chunk

AbstainReason = Literal["no_evidence", "low_confidence", "conflicting_sources", "only_draft_or_superseded"]


@dataclass(frozen=True)
class Evidence:
    """A retrieved passage: one chunk, or neighbouring chunks of one section merged."""

    chunks: tuple[Chunk, ...]
    score: float
    dense_score: float
    lexical_score: float

    @property
    def chunk(self) -> Chunk:
        """The first chunk: its document and section stand for the passage."""
        return self.chunks[0]

    @property
    def text(self) -> str:
        """The passage text."""
        return "\n".join(c.text for c in self.chunks)


class Quote(NamedTuple):
    """A verbatim span of a retrieved chunk that supports a claim: source number, chunk, offsets, score.

    The verifier's record of what it matched; the citation shown to the reader is built from it."""

    n: int
    chunk: Chunk
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Citation:
    """A numbered source with the verbatim span of its chunk that supports a claim."""

    n: int
    document_id: str
    title: str
    file: str
    page: int
    section: str
    quote: str
    chunk_id: str
    score: float
    quote_start: int
    quote_end: int
    status: str = "final"
    # How a reader cites the page: "§4.2 Deviations" for a Word section, "p. 3 (OCR)" for a scanned page.
    page_label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The contract's citation object."""
        return {
            "n": self.n,
            "document_id": self.document_id,
            "title": self.title,
            "file": self.file,
            "page": self.page,
            "section": self.section,
            "quote": self.quote,
            "chunk_id": self.chunk_id,
            "score": round(self.score, 4),
            "quote_start": self.quote_start,
            "quote_end": self.quote_end,
            "status": self.status,
            "page_label": self.page_label or f"p. {self.page}",
        }


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer, the sources it cites, and whether they support it."""

    text: str
    citations: tuple[int, ...]
    supported: bool
    support_score: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's claim object."""
        return {
            "text": self.text,
            "citations": list(self.citations),
            "supported": self.supported,
            "support_score": round(self.support_score, 4),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Answer:
    """A verified answer, or a refusal with its reason. Shared by the CLI and the API."""

    id: str
    question: str
    answer: str
    abstained: bool
    abstain_reason: str | None
    citations: tuple[Citation, ...]
    claims: tuple[Claim, ...]
    retrieval: tuple[Evidence, ...]
    backend: str
    model: str
    prompt_version: str
    index_version: str
    latency_ms: dict[str, float]
    warnings: tuple[str, ...] = ()
    searched: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The output contract (extra fields: warnings, searched)."""
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "abstain_reason": self.abstain_reason,
            "citations": [c.to_dict() for c in self.citations],
            "claims": [c.to_dict() for c in self.claims],
            "retrieval": [
                {
                    "chunk_id": e.chunk.chunk_id,
                    "file": e.chunk.file,
                    "page_start": e.chunk.page_start,
                    "page_end": e.chunks[-1].page_end,
                    "section": e.chunk.section,
                    "score": round(e.score, 5),
                    "text": e.text,
                    "title": e.chunk.title,
                    "status": e.chunk.meta.status,
                    "chunk_ids": [c.chunk_id for c in e.chunks],
                }
                for e in self.retrieval
            ],
            "backend": self.backend,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "index_version": self.index_version,
            "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()},
            "warnings": list(self.warnings),
            "searched": self.searched,
        }
