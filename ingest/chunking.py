"""Chunk cleaned pages along the document's own structure: sections, headings, lists and tables.

Every chunk is an exact span of page text (page and character offsets), so a citation can be
highlighted on its page, and every chunk fits the embedder's input so nothing is silently cut.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# v2: bracketed numbers and source fences in document text are neutralised at ingest (api trust review).
# v3: NFKC, and words pypdf split inside ("evalua ted") joined where certain (issue 14).
# v4: ruled PDF tables one row a line (ingest/tables.py), a table row one sentence (issue 18).
CHUNKER_VERSION = "structure-v4"
TokenCounter = Callable[[str], int]


def chunker_identity(max_tokens: int, context: bool) -> str:
    """What an index records about its chunking; an index built one way refuses to be queried another way."""
    return f"{CHUNKER_VERSION}/{max_tokens}t/{'context' if context else 'bare'}"


_ROMAN = r"(?:X{0,3}(?:IX|IV|V?I{1,3}|V))"
_DECIMAL = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,3}){0,5})(?P<dot>\.?)\s+(?P<title>[A-Z(“\"‘'].*)$")
_ROMAN_HEAD = re.compile(rf"^(?P<num>{_ROMAN})\.\s+(?P<title>[A-Z].*)$")
_ROMAN_DECIMAL = re.compile(rf"^(?P<num>{_ROMAN}\.\d{{1,2}}(?:\.\d{{1,2}})*)\.?\s+(?P<title>[A-Z].*)$")
_LETTER_HEAD = re.compile(r"^(?P<num>[A-H])\.\s+(?P<title>[A-Z].*)$")
_NAMED = re.compile(
    r"^(?P<kind>Annex|Appendix|Article|Theme|Chapter|Part|Section)\s+(?P<num>\d{1,3}|[IVXL]{1,5}|[A-Z])\b"
    r"\s*[:.\-–—]?\s*(?P<title>.*)$"
)
_BARE_NAMED = re.compile(
    r"^(?P<kind>Principle|Glossary|Definitions|References|Introduction|Scope|Background)\s*$", re.I
)
_MARKDOWN = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_TOC_LINE = re.compile(r"(\.{4,}|…{2,}|\s\.\s\.\s\.)\s*\d+\s*$|\s\d{1,3}\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[•▪◦●\-–*]|\(?[a-z]{1,3}\)|\(?\d{1,2}\)|[a-z]\.)\s+")
_TABLE_ROW = re.compile(r"\S(?: {3,}|\t+|\s\|\s)\S.*(?: {3,}|\t+|\s\|\s)\S|^\|.*\|\s*$")
_SENTENCE_END = re.compile(r"[.!?;:][\"”’')\]]?$")
_PARENT_KINDS = {"annex", "appendix", "part", "chapter"}


@dataclass(frozen=True)
class Span:
    """A chunk before it is given its identity: page offsets and structure."""

    page_start: int
    page_end: int
    char_start: int
    char_end: int
    text: str
    section: str
    heading_path: tuple[str, ...]
    kind: str


@dataclass
class _Line:
    page: int
    start: int
    end: int
    text: str
    heading: tuple[int, str, str] | None = None  # (depth, section id, label)
    kind: str = "text"


@dataclass
class _Unit:
    lines: list[_Line]
    path: tuple[str, ...]
    section: str
    kind: str
    is_heading: bool = False
    tokens: int = 0


@dataclass
class _HeadingState:
    stack: dict[int, tuple[str, str]] = field(default_factory=dict)  # depth -> (section id, label)
    last_decimal: tuple[int, ...] | None = None
    roman_scheme: bool = False

    def push(self, depth: int, sec: str, label: str) -> None:
        for d in [d for d in self.stack if d >= depth]:
            del self.stack[d]
        self.stack[depth] = (sec, label)

    def path(self) -> tuple[str, ...]:
        return tuple(self.stack[d][1] for d in sorted(self.stack))

    def section(self) -> str:
        return self.stack[max(self.stack)][0] if self.stack else ""


def _label(num: str, title: str) -> str:
    title = title.strip()
    # A long numbered line is a numbered provision, not a heading: cite it by number alone.
    if len(title) > 90 or _SENTENCE_END.search(title):
        return num
    return f"{num} {title}".strip()


def _classify_heading(text: str, state: _HeadingState, is_text_file: bool) -> tuple[int, str, str] | None:
    line = text.strip()
    if not line or len(line) > 300:
        return None
    m = _MARKDOWN.match(line)
    if m:
        title = m.group("title").strip("*_ ")
        return (len(m.group("hashes")), _section_of_title(title), title[:120])
    if _TOC_LINE.search(line) and len(line) < 160 and not _SENTENCE_END.search(line.rstrip("0123456789 ")):
        return None
    m = _NAMED.match(line)
    if m and len(line) <= 120:
        kind = m.group("kind")
        sec = f"{kind} {m.group('num')}"
        depth = 0 if kind.lower() in _PARENT_KINDS else 1
        return (depth, sec, _label(sec, m.group("title")))
    m = _BARE_NAMED.match(line)
    if m:
        return (1, m.group("kind").title(), m.group("kind").title())
    m = _ROMAN_DECIMAL.match(line)
    if m:
        num = m.group("num")
        return (2 + num.count("."), num, _label(num, m.group("title")))
    if state.roman_scheme or not state.last_decimal:
        m = _ROMAN_HEAD.match(line)
        if m and len(line) <= 120 and m.group("title").strip():
            state.roman_scheme = True
            return (1, m.group("num"), _label(m.group("num") + ".", m.group("title")))
    if state.roman_scheme:
        m = _LETTER_HEAD.match(line)
        if m and len(line) <= 120 and 1 in state.stack:
            sec = f"{state.stack[1][0]}.{m.group('num')}"
            return (2, sec, _label(f"{m.group('num')}.", m.group("title")))
    m = _DECIMAL.match(line)
    if m:
        num = m.group("num")
        parts = tuple(int(p) for p in num.split("."))
        if parts[0] == 0 or parts[0] > 40:
            return None
        if len(parts) == 1 and not m.group("dot") and (len(line) > 80 or _SENTENCE_END.search(line)):
            return None
        prev = state.last_decimal
        if prev is not None and not (parts > prev or parts == (1,) or (parts[:1] == (1,) and len(parts) == 2)):
            return None
        if prev is not None and parts[0] > prev[0] + 3:
            return None
        if state.roman_scheme and len(parts) == 1 and 2 in state.stack:
            state.last_decimal = parts
            sec = f"{state.stack[2][0]}.{num}"
            return (3, sec, _label(num + ".", m.group("title")))
        state.last_decimal = parts
        return (len(parts) + (1 if any(d == 0 for d in state.stack) else 0), num, _label(num, m.group("title")))
    return None


def _section_of_title(title: str) -> str:
    m = re.match(r"^(?:(Annex|Appendix|Article|Theme|Chapter|Part|Section)\s+\S+|\d+(?:\.\d+)*)", title)
    return m.group(0) if m else title[:80]


def _plain_text_heading(line: str, next_line: str) -> bool:
    s = line.strip()
    return (
        4 <= len(s) <= 70
        and s[0].isupper()
        and not _SENTENCE_END.search(s)
        and not s.endswith(",")
        and len(next_line.strip()) >= max(80, 2 * len(s))
    )


def _lines(pages: Sequence[str]) -> list[_Line]:
    out: list[_Line] = []
    for pno, text in enumerate(pages, start=1):
        pos = 0
        for raw in text.split("\n"):
            out.append(_Line(page=pno, start=pos, end=pos + len(raw), text=raw))
            pos += len(raw) + 1
    return out


def _annotate(lines: list[_Line], is_text_file: bool) -> None:
    state = _HeadingState()
    for i, ln in enumerate(lines):
        if not ln.text.strip():
            ln.kind = "blank"
            continue
        head = _classify_heading(ln.text, state, is_text_file)
        if head is None and is_text_file:
            nxt = next((x.text for x in lines[i + 1 : i + 4] if x.text.strip()), "")
            if _plain_text_heading(ln.text, nxt):
                head = (1, ln.text.strip(), ln.text.strip())
        if head is not None:
            ln.heading = head
            ln.kind = "heading"
        elif _TABLE_ROW.search(ln.text):
            ln.kind = "table"
        elif _LIST_ITEM.match(ln.text):
            ln.kind = "list"


def _units(lines: list[_Line]) -> list[_Unit]:
    state = _HeadingState()
    units: list[_Unit] = []
    cur: _Unit | None = None
    for ln in lines:
        if ln.kind == "blank":
            cur = None
            continue
        if ln.kind == "heading":
            assert ln.heading is not None
            depth, sec, label = ln.heading
            state.push(depth, sec, label)
            units.append(_Unit([ln], state.path(), state.section(), "text", is_heading=True))
            cur = None
            continue
        starts_new = (
            cur is None
            or (
                ln.kind != cur.kind
                and not (
                    cur.kind == "list" and ln.kind == "text" and not _SENTENCE_END.search(cur.lines[-1].text.strip())
                )
            )
            or ln.kind == "list"
            or (
                ln.kind == "text" and _SENTENCE_END.search(cur.lines[-1].text.strip()) and ln.text.strip()[:1].isupper()
            )
        )
        if starts_new:
            cur = _Unit([ln], state.path(), state.section(), ln.kind if ln.kind in ("table", "list") else "text")
            units.append(cur)
        else:
            assert cur is not None
            cur.lines.append(ln)
    return units


def _span_text(pages: Sequence[str], p0: int, c0: int, p1: int, c1: int) -> str:
    if p0 == p1:
        return pages[p0 - 1][c0:c1]
    parts = [pages[p0 - 1][c0:]]
    parts.extend(pages[p - 1] for p in range(p0 + 1, p1))
    parts.append(pages[p1 - 1][:c1])
    return "\n".join(parts)


_SENT_SPLIT = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9(“\"•])")


def _split_long(line: _Line, count: TokenCounter, max_tokens: int) -> list[_Line]:
    """Split one over-long line at sentence ends, then at word boundaries."""
    pieces: list[_Line] = []
    text, base = line.text, line.start
    bounds = [0] + [m.end() for m in _SENT_SPLIT.finditer(text)] + [len(text)]
    segs = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if bounds[i] < bounds[i + 1]]
    for s, e in segs:
        seg = text[s:e]
        if count(seg) <= max_tokens:
            pieces.append(_Line(line.page, base + s, base + e, seg, kind=line.kind))
            continue
        words = [(m.start(), m.end()) for m in re.finditer(r"\S+\s*", seg)]
        ws = 0
        while ws < len(words):
            lo, hi = ws + 1, len(words)
            while lo < hi:  # the longest run of words that fits
                mid = (lo + hi + 1) // 2
                if count(seg[words[ws][0] : words[mid - 1][1]]) <= max_tokens:
                    lo = mid
                else:
                    hi = mid - 1
            a, b = words[ws][0], words[lo - 1][1]
            pieces.append(_Line(line.page, base + s + a, base + s + b, seg[a:b], kind=line.kind))
            ws = lo
    return pieces


def chunk_pages(
    pages: Sequence[str],
    count_tokens: TokenCounter,
    max_tokens: int,
    is_text_file: bool = False,
) -> list[Span]:
    """Split cleaned pages into spans of at most `max_tokens` tokens along the document's structure.

    `max_tokens` has no default here: `IngestSettings.chunk_max_tokens` is the one place that sets it.
    """
    lines = _lines(pages)
    _annotate(lines, is_text_file)
    units = _units(lines)
    for u in units:
        u.tokens = count_tokens("\n".join(ln.text for ln in u.lines))

    spans: list[Span] = []
    buf: list[_Unit] = []

    def flush() -> None:
        if not buf:
            return
        body = next((u for u in buf if not u.is_heading), buf[-1])
        first, last = buf[0].lines[0], buf[-1].lines[-1]
        text = _span_text(pages, first.page, first.start, last.page, last.end)
        kinds = {u.kind for u in buf if not u.is_heading}
        kind = "table" if "table" in kinds else "list" if kinds == {"list"} else "text"
        spans.append(Span(first.page, last.page, first.start, last.end, text, body.section, body.path, kind))
        buf.clear()

    def buf_tokens() -> int:
        return sum(u.tokens for u in buf) + len(buf)

    for u in units:
        if u.tokens > max_tokens:
            flush()
            pieces = [p for ln in u.lines for p in _split_long(ln, count_tokens, max_tokens)]
            for p in pieces:
                sub = _Unit([p], u.path, u.section, u.kind, tokens=count_tokens(p.text))
                if buf and buf_tokens() + sub.tokens > max_tokens:
                    flush()
                buf.append(sub)
            flush()
            continue
        only_headings = all(x.is_heading for x in buf)
        if (
            (u.is_heading and buf and not only_headings)
            or (buf and buf_tokens() + u.tokens > max_tokens)
            or (buf and not u.is_heading and not only_headings and u.path != buf[-1].path)
        ):
            flush()
        buf.append(u)
    flush()
    return [s for s in spans if s.text.strip()]


def chunk_id(document_id: str, span: Span) -> str:
    """A chunk's identity: a hash of its document, position and content."""
    key = f"{document_id}|{span.page_start}:{span.char_start}-{span.page_end}:{span.char_end}|{span.text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def document_id(data: bytes) -> str:
    """A document's identity: a hash of its bytes."""
    return hashlib.sha256(data).hexdigest()[:24]
