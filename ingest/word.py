"""Word (.docx) files as heading-delimited sections: each section is one "page" that a citation names.

mammoth reads the document as Word shows it with changes accepted: deleted text (`w:del`, `w:moveFrom`)
and comments are left out, inserted text is kept. Its HTML is then laid out as the chunker reads
Markdown: headings as `#` lines, numbered lists as `1)` items, tables one row a line (`| a | b |`), and
footnotes at the end of the section that refers to them, apart from its body text.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import IngestError

_HEADING = re.compile(r"^h([1-6])$")
_NOTE_ID = re.compile(r"^(footnote|endnote)-(\d+)$")
_NOTE_REF = re.compile(r"#(footnote|endnote)-(\d+)$")


@dataclass(frozen=True)
class Section:
    """One heading and the text under it, up to the next heading."""

    label: str  # how a citation names it: "§4.2 Deviations"
    text: str


@dataclass
class _Open:
    heading: str
    blocks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # note keys referenced in this section, in order


def _text(el: Any) -> str:
    # Paragraphs inside a table cell (or a nested table) are separate words, not run together.
    for sub in el.iter("p", "td", "th", "li", "tr", "br"):
        if sub is not el:
            sub.tail = " " + (sub.tail or "")
    return re.sub(r"\s+", " ", "".join(el.itertext())).strip()


def _roman(n: int) -> str:
    out = ""
    for value, digits in ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + digits, n - value
    return out


def _marker(ordered: bool, depth: int, n: int) -> str:
    # ")" markers rather than "1." so that a short item never reads as a numbered heading to the chunker.
    if not ordered:
        return "•"
    if depth % 3 == 1:
        return f"{chr(ord('a') + (n - 1) % 26)})"
    if depth % 3 == 2:
        return f"{_roman(n)})"
    return f"{n})"


def _list_lines(el: Any, depth: int = 0) -> list[str]:
    lines: list[str] = []
    ordered = el.tag == "ol"
    for n, li in enumerate((c for c in el if c.tag == "li"), start=1):
        nested = [c for c in li if c.tag in ("ol", "ul")]
        for c in nested:
            li.remove(c)
        lines.append("  " * depth + f"{_marker(ordered, depth, n)} {_text(li)}")
        for c in nested:
            lines.extend(_list_lines(c, depth + 1))
    return lines


def _table_lines(el: Any) -> list[str]:
    rows = []
    for tr in el.xpath("./tr | ./thead/tr | ./tbody/tr"):  # a table nested in a cell stays in its cell
        cells = [_text(td).replace("|", "/") for td in tr if td.tag in ("td", "th")]
        if any(cells):
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def _note_refs(el: Any) -> list[str]:
    out = []
    for a in el.iter("a"):
        m = _NOTE_REF.search(a.get("href") or "")
        if m and (a.get("id") or "").startswith(m.group(1) + "-ref"):
            out.append(f"{m.group(1)}-{m.group(2)}")
    return out


def _heading_label(heading: str) -> str:
    return "§" + heading if heading else "§(before the first heading)"


def read_docx(name: str, data: bytes) -> tuple[list[Section], str | None]:
    """The sections of a .docx and its core-properties title; raise IngestError naming the file."""
    import mammoth
    from lxml import html

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if "word/document.xml" not in z.namelist():
                raise IngestError(name, "not a Word document (no word/document.xml inside); is it a .docx?")
        result = mammoth.convert_to_html(
            io.BytesIO(data), convert_image=mammoth.images.img_element(lambda image: {"alt": ""})
        )
    except IngestError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, AttributeError, TypeError) as exc:
        raise IngestError(name, f"corrupt or unreadable Word file ({type(exc).__name__}: {exc})") from exc
    title = _core_title(data)
    if not result.value.strip():
        raise IngestError(name, "the Word document has no text")
    root = html.fragment_fromstring(result.value, create_parent="div")
    notes: dict[str, str] = {}
    sections: list[_Open] = [_Open("")]
    for el in list(root):
        if el.tag == "ol" and all(_NOTE_ID.match(li.get("id") or "") for li in el if li.tag == "li"):
            for li in el:
                for a in list(li.iter("a")):
                    if re.match(r"#(footnote|endnote)-ref-", a.get("href") or ""):
                        a.drop_tree()  # the "↑" link back to the reference
                notes[li.get("id")] = _text(li)
            continue
        m = _HEADING.match(el.tag)
        if m:
            heading = _text(el)
            if heading:
                sections.append(_Open(heading))
                sections[-1].blocks.append("#" * int(m.group(1)) + " " + heading)
            continue
        sections[-1].notes.extend(_note_refs(el))
        if el.tag in ("ol", "ul"):
            lines = _list_lines(el)
        elif el.tag == "table":
            lines = _table_lines(el)
        else:
            lines = [t] if (t := _text(el)) else []
        if lines:
            sections[-1].blocks.append("\n".join(lines))
    out: list[Section] = []
    for s in sections:
        if not s.blocks:
            continue
        blocks = list(s.blocks)
        for key in dict.fromkeys(s.notes):
            if key in notes:
                blocks.append(f"[{key.split('-')[1]}] {notes[key]}")
        out.append(Section(_heading_label(s.heading), "\n\n".join(blocks)))
    if not any(s.text.strip() for s in out):
        raise IngestError(name, "the Word document has no text")
    return out, title


def _core_title(data: bytes) -> str | None:
    from docx import Document

    try:
        title = Document(io.BytesIO(data)).core_properties.title
    except Exception:  # a title is a nicety; a document python-docx cannot open may still be read by mammoth
        return None
    if not isinstance(title, str) or not title.strip():
        return None
    return title.strip()
