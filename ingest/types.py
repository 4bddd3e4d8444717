"""Frozen records handed between the ingest stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DocType = Literal[
    "guideline",
    "guidance",
    "draft guidance",
    "reflection paper",
    "regulation annex",
    "strategy",
    "news",
    "summary",
    "unknown",
]
Status = Literal["draft", "final", "superseded"]


@dataclass(frozen=True)
class DocumentMeta:
    """What a reader needs to know about a document before trusting it."""

    title: str
    issuing_body: str = "unknown"
    jurisdiction: str = "unknown"
    doc_type: str = "unknown"
    status: str = "final"
    year: int | None = None
    source: str = ""
    licence: str = ""


@dataclass(frozen=True)
class Page:
    """One page of cleaned text; `number` is 1-based. Text files are a single page."""

    number: int
    text: str


@dataclass(frozen=True)
class PageInfo:
    """How a page was read and how a citation names it, stored with the page.

    `label` is "" for a PDF page (cited by number) and the section for a Word file ("§4.2 Deviations",
    whose "pages" are its heading-delimited sections). `ocr_confidence` is Tesseract's mean word
    confidence (0-100) for a page read by OCR, None for a text layer.
    """

    label: str = ""
    ocr_confidence: float | None = None

    @property
    def ocr(self) -> bool:
        """Whether the page text came from OCR."""
        return self.ocr_confidence is not None

    def cite(self, number: int) -> str:
        """How a citation names page `number`: "p. 3", "p. 3 (OCR)" or "§4.2 Deviations"."""
        return (self.label or f"p. {number}") + (" (OCR)" if self.ocr else "")


@dataclass(frozen=True)
class Chunk:
    """A retrievable span of a document with exact provenance.

    `text` is exactly `pages[page_start].text[char_start:]` ... `pages[page_end].text[:char_end]`
    joined with a newline across page breaks, so a viewer can highlight it on the page.
    """

    chunk_id: str
    document_id: str
    file: str
    title: str
    ordinal: int
    section: str
    heading_path: tuple[str, ...]
    page_start: int
    page_end: int
    char_start: int
    char_end: int
    text: str
    kind: Literal["text", "table", "list"] = "text"
    meta: DocumentMeta = field(default_factory=lambda: DocumentMeta(title=""))

    @property
    def section_label(self) -> str:
        """Section number and heading path as a reader would cite it."""
        return " > ".join(self.heading_path)
