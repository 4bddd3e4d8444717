"""Approved answers as a drafted response: Markdown or DOCX, citations as numbered references.

References are numbered once across all exported answers: the same passage cited by two answers is
one reference, so a response document reads like one a person wrote.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.models import Record
from assistant.verify import MARKER_RUN


@dataclass(frozen=True)
class Reference:
    """One numbered reference: where the quote is, what it says, and who issued the document when."""

    n: int
    title: str
    section: str
    page: int
    quote: str
    file: str
    document_id: str
    # As cited: "§4.2 Deviations" for a Word section, "p. 3 (OCR)" for a scanned page.
    page_label: str = ""
    issuing_body: str = ""
    year: int | None = None
    status: str = ""
    source: str = ""

    def where(self) -> str:
        """The title with the section and page cited."""
        if self.page_label.startswith("§"):
            return f"{self.title} {self.page_label}"
        section = f", section {self.section}" if self.section else ""
        ocr = " (OCR)" if self.page_label.endswith("(OCR)") else ""
        return f"{self.title}{section}, page {self.page}{ocr}"

    def status_label(self) -> str:
        """ "DRAFT" or "SUPERSEDED" for a source a reader must not take as final guidance; else nothing."""
        return {"draft": "DRAFT", "superseded": "SUPERSEDED"}.get(self.status, "")

    def line(self) -> str:
        """The reference as one line, for the internal version: the file and version hash included."""
        about = ", ".join(x for x in (self._body(), str(self.year or ""), self.status_label()) if x)
        tail = "".join(f" {x}." for x in (about, self._url()) if x)
        return f"{self.where()}. “{_flat(self.quote)}” ({self.file}, {self.document_id[:12]}).{tail}"

    def client_line(self) -> str:
        """The reference as a client reads it: issuing body, title, year and status, section and page,
        the quote and the source's address; no file names or hashes."""
        year = f" ({self.year})" if self.year else ""
        status = f" [{self.status_label()}]" if self.status_label() else ""
        body = f"{self._body()}. " if self._body() else ""
        where = self.where().removeprefix(self.title).lstrip(", ")
        url = f" Available at: {self._url()}" if self._url() else ""
        return f"{body}{self.title}{year}{status}. {where[:1].upper()}{where[1:]}. “{_flat(self.quote)}”{url}"

    def _body(self) -> str:
        return "" if self.issuing_body in ("", "unknown") else self.issuing_body

    def _url(self) -> str:
        return self.source if self.source.startswith(("http://", "https://")) else ""


PageLabel = Callable[[str, int], str]


@dataclass(frozen=True)
class Item:
    """One answer of the response, its text renumbered to the shared references."""

    question: str
    text: str
    approved_by: str
    approved_at: str
    version: int
    # Sentences approved although their citations do not support them; the reviewer acknowledged each.
    unsupported: tuple[str, ...] = ()

    heading: str = ""

    def acknowledgement(self, client: bool = False) -> str:
        """The reviewer's acknowledgement of the unsupported sentences, in words, or nothing; a client reads
        that they are unsupported, not who approved them."""
        if not self.unsupported:
            return ""
        n = len(self.unsupported)
        which = "sentence marked (unsupported) is" if n == 1 else f"{n} sentences marked (unsupported) are"
        if client:
            return f"The {which} not supported by the cited sources."
        return (
            f"The {which} not supported by the cited sources; {self.approved_by} approved the answer "
            "acknowledging this."
        )


def _renumber(text: str, numbers: dict[int, int]) -> str:
    return re.sub(r"\[(\d+)\]", lambda m: f"[{numbers.get(int(m.group(1)), m.group(1))}]", text)


def _flat(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


_UNSUPPORTED = " (unsupported)"


def _mark(text: str, sentence: str) -> str:
    """`text` with `sentence` (and the citation markers after it) followed by the unsupported mark."""
    at = text.find(sentence)
    if at < 0:
        return text
    end = at + len(sentence)
    markers = MARKER_RUN.match(text, end)
    end = markers.end() if markers else end
    if text[end:].startswith(_UNSUPPORTED):
        return text
    return text[:end] + _UNSUPPORTED + text[end:]


# XML 1.0 has no place for these; python-docx refuses them (a 500 before this was removed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(s: str) -> str:
    return _NOT_XML.sub("", s)


# The catalog row of a document version (fields by name), or None.
DocumentRow = Callable[[str], Any]


@dataclass(frozen=True)
class Options:
    """What the consultant chose: the title, an introduction, each answer's heading, which version."""

    title: str = "Drafted response"
    introduction: str = ""
    headings: Mapping[str, str] = field(default_factory=dict)
    client: bool = False
    author: str = ""


def assemble(
    records: list[Record], page_label: PageLabel | None = None, document: DocumentRow | None = None
) -> tuple[list[Item], list[Reference]]:
    """Items in the order given and the shared, renumbered reference list; `document` gives the catalog's
    row of a cited document version (issuing body, year, status, source)."""
    refs: dict[tuple[str, int, str], Reference] = {}
    items: list[Item] = []
    for r in records:
        local: dict[int, int] = {}
        for c in r.citations:
            key = (c.document_id, c.page, _flat(c.quote))
            if key not in refs:
                # The label the answer cited; citations stored before it was kept ask the catalog.
                label = c.page_label or (page_label(c.document_id, c.page) if page_label else "")
                row = document(c.document_id) if document else None
                refs[key] = Reference(
                    len(refs) + 1,
                    row["title"] if row else c.title,  # an admin's correction of the same version counts
                    c.section,
                    c.page,
                    c.quote,
                    c.file,
                    c.document_id,
                    label,
                    str(row["issuing_body"]) if row else "",
                    row["year"] if row else None,
                    str(row["status"]) if row else c.doc_status,
                    str(row["source"]) if row else "",
                )
            local[c.n] = refs[key].n
        version = r.versions[-1]
        text = _renumber(version.text, local)
        unsupported = tuple(c["text"] for c in version.claims if not c.get("supported"))
        for sentence in unsupported:
            text = _mark(text, sentence)
        review = next((v for v in reversed(r.reviews) if v.decision == "approved"), None)
        items.append(
            Item(
                r.question,
                text,
                review.reviewer.name if review else "",
                review.created_at.strftime("%Y-%m-%d %H:%M UTC") if review else "",
                version.version,
                unsupported,
            )
        )
    used = sorted(refs.values(), key=lambda x: x.n)
    return items, used


def to_markdown(
    records: list[Record], options: Options, page_label: PageLabel | None = None, document: DocumentRow | None = None
) -> str:
    """The response as Markdown."""
    items, refs = assemble(records, page_label, document)
    out = [f"# {options.title}", ""]
    if options.introduction.strip():
        out += [options.introduction.strip(), ""]
    for i, (r, it) in enumerate(zip(records, items, strict=True), start=1):
        out += [f"## {i}. {options.headings.get(r.id) or it.question}", "", it.text, ""]
        if it.unsupported:
            out += [f"**{it.acknowledgement(options.client)}**", ""]
        if not options.client:
            out += [f"*Approved by {it.approved_by} on {it.approved_at} (version {it.version}).*", ""]
    out += ["## References", ""]
    out += [f"{r.n}. {r.client_line() if options.client else r.line()}" for r in refs]
    return "\n".join(out) + "\n"


def to_docx(
    records: list[Record], options: Options, page_label: PageLabel | None = None, document: DocumentRow | None = None
) -> bytes:
    """The response as a Word document, its core properties naming who exported it and when."""
    from docx import Document

    items, refs = assemble(records, page_label, document)
    doc = Document()
    props = doc.core_properties
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)  # python-docx writes naive times as UTC
    props.author = props.last_modified_by = _xml_safe(options.author)
    props.created = props.modified = now
    props.title = _xml_safe(options.title)
    props.revision = 1
    props.comments = "Client version" if options.client else "Internal version, with approvals"
    props.subject = props.keywords = props.category = ""
    doc.add_heading(_xml_safe(options.title), level=0)
    for paragraph in [p for p in options.introduction.split("\n\n") if p.strip()]:
        doc.add_paragraph(_xml_safe(paragraph.strip()))
    for i, (r, it) in enumerate(zip(records, items, strict=True), start=1):
        doc.add_heading(_xml_safe(f"{i}. {options.headings.get(r.id) or it.question}"), level=1)
        doc.add_paragraph(_xml_safe(it.text))
        if it.unsupported:
            doc.add_paragraph().add_run(_xml_safe(it.acknowledgement(options.client))).bold = True
        if not options.client:
            note = doc.add_paragraph()
            note.add_run(
                _xml_safe(f"Approved by {it.approved_by} on {it.approved_at} (version {it.version}).")
            ).italic = True
    doc.add_heading("References", level=1)
    for ref in refs:
        doc.add_paragraph(_xml_safe(f"[{ref.n}] {ref.client_line() if options.client else ref.line()}"))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
