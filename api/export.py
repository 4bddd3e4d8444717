"""Approved answers as a drafted response: Markdown or DOCX, citations as numbered references.

References are numbered once across all exported answers: the same passage cited by two answers is
one reference, so a response document reads like one a person wrote.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

from api.models import Record
from assistant.verify import MARKER_RUN


@dataclass(frozen=True)
class Reference:
    """One numbered reference: where the quote is and what it says."""

    n: int
    title: str
    section: str
    page: int
    quote: str
    file: str
    document_id: str
    # As cited: "§4.2 Deviations" for a Word section, "p. 3 (OCR)" for a scanned page.
    page_label: str = ""

    def line(self) -> str:
        """The reference as one line of prose."""
        end = f". “{_flat(self.quote)}” ({self.file}, {self.document_id[:12]})"
        if self.page_label.startswith("§"):
            return f"{self.title} {self.page_label}{end}"
        section = f", section {self.section}" if self.section else ""
        ocr = " (OCR)" if self.page_label.endswith("(OCR)") else ""
        return f"{self.title}{section}, page {self.page}{ocr}{end}"


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

    def acknowledgement(self) -> str:
        """The reviewer's acknowledgement of the unsupported sentences, in words, or nothing."""
        if not self.unsupported:
            return ""
        n = len(self.unsupported)
        which = "sentence marked (unsupported) is" if n == 1 else f"{n} sentences marked (unsupported) are"
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


def assemble(records: list[Record], page_label: PageLabel | None = None) -> tuple[list[Item], list[Reference]]:
    """Items in the order given and the shared, renumbered reference list."""
    refs: dict[tuple[str, int, str], Reference] = {}
    items: list[Item] = []
    for r in records:
        local: dict[int, int] = {}
        for c in r.citations:
            key = (c.document_id, c.page, _flat(c.quote))
            if key not in refs:
                # The label the answer cited; citations stored before it was kept ask the catalog.
                label = c.page_label or (page_label(c.document_id, c.page) if page_label else "")
                refs[key] = Reference(len(refs) + 1, c.title, c.section, c.page, c.quote, c.file, c.document_id, label)
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


def to_markdown(records: list[Record], title: str = "Drafted response", page_label: PageLabel | None = None) -> str:
    """The response as Markdown."""
    items, refs = assemble(records, page_label)
    out = [f"# {title}", ""]
    for i, it in enumerate(items, start=1):
        out += [f"## {i}. {it.question}", "", it.text, ""]
        if it.unsupported:
            out += [f"**{it.acknowledgement()}**", ""]
        out += [f"*Approved by {it.approved_by} on {it.approved_at} (version {it.version}).*", ""]
    out += ["## References", ""]
    out += [f"{r.n}. {r.line()}" for r in refs]
    return "\n".join(out) + "\n"


def to_docx(records: list[Record], title: str = "Drafted response", page_label: PageLabel | None = None) -> bytes:
    """The response as a Word document."""
    from docx import Document

    items, refs = assemble(records, page_label)
    doc = Document()
    doc.add_heading(_xml_safe(title), level=0)
    for i, it in enumerate(items, start=1):
        doc.add_heading(_xml_safe(f"{i}. {it.question}"), level=1)
        doc.add_paragraph(_xml_safe(it.text))
        if it.unsupported:
            doc.add_paragraph().add_run(_xml_safe(it.acknowledgement())).bold = True
        note = doc.add_paragraph()
        note.add_run(
            _xml_safe(f"Approved by {it.approved_by} on {it.approved_at} (version {it.version}).")
        ).italic = True
    doc.add_heading("References", level=1)
    for r in refs:
        doc.add_paragraph(_xml_safe(f"[{r.n}] {r.line()}"))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
