"""Ruled tables of PDF pages, one row a line, as the page shows them.

pypdf reads a ruled table in text-drawing order: each cell's lines come out one after another, so the
MHRA antipsychotics table's "Chlorpromazine—oral and injection" row becomes a dozen lines in which a
reader cannot tell which indication belongs to which column, and a quote from it is not a row. pdfplumber
(on pdfminer.six) finds the table's ruling lines and cells; each row becomes one `| a | b |` line, the
form the Word reader gives its tables, so the chunker keeps a table as a table and a quote is a whole row.

Only pages that draw enough lines to hold a table are opened by pdfplumber (PDFium counts a page's path
objects in well under a millisecond; pdfplumber takes about 80 ms a page). The rest of the page stays
pypdf's text, line for line: the table's run of lines (found by its words) is replaced by its rows. A page
whose table lines cannot be found, or that pdfplumber cannot read, keeps pypdf's text whole: nothing is
lost, the rows are only not whole.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ingest.pdfium import LOCK

log = logging.getLogger(__name__)

# A page with fewer path objects (lines, rectangles) than this has no ruled table of two rows.
MIN_PATHS = 8
# A table is at least this many rows with two or more filled cells: a box around a paragraph is not one.
MIN_ROWS = 2
# Empty cells narrower than this (points) are slivers between double rules, not columns.
_SLIVER = 12.0
# Symbol fonts draw ticks and crosses with letters and digits; pdfminer gives them as "(cid:N)".
# Wingdings 2 code 51 is the tick the MHRA table draws (checked against the rendered page).
_SYMBOLS = {("wingdings2", 51): "✓", ("wingdings2", 80): "✓", ("wingdings2", 79): "✗"}
_CID = re.compile(r"\(cid:(\d+)\)")


def ruled_pages(data: bytes, pages: Iterable[int]) -> list[int]:
    """The 1-based pages among `pages` that draw at least MIN_PATHS lines or rectangles."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    out = []
    with LOCK:
        pdf = pdfium.PdfDocument(data)
    try:
        for number in pages:
            with LOCK:  # a page at a time: the source viewer's renders are not held up by a long document
                page = pdf[number - 1]
                try:
                    for paths, _ in enumerate(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=2), 1):
                        if paths >= MIN_PATHS:
                            out.append(number)
                            break
                finally:
                    page.close()
    finally:
        with LOCK:
            pdf.close()
    return out


def pages_with_tables(data: bytes, texts: Sequence[str], pages: Sequence[int]) -> dict[int, str]:
    """`texts` (pypdf's, one per page) with each ruled table's lines replaced by its rows, one a line.

    Only pages of `pages` that have a table, and whose table lines could be found in the text, are
    returned; every other line of such a page is exactly pypdf's (its line numbers, bullets, spacing).
    """
    candidates = ruled_pages(data, pages)
    if not candidates:
        return {}
    import pdfplumber

    out: dict[int, str] = {}
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for number in candidates:
            page = pdf.pages[number - 1]
            try:
                found = _tables(page)
                fonts = _symbol_fonts(page) if found else {}
                tables = [(_rows(t, cells, fonts), _vocabulary(cells)) for t, cells in found]
            except Exception as exc:  # a page pdfplumber cannot read keeps pypdf's text
                log.warning(
                    "page %d: table layout not read (%s: %s); its text stays in reading order",
                    number,
                    type(exc).__name__,
                    exc,
                )
                continue
            text = _replace(texts[number - 1], tables) if tables else None
            if text is not None:
                out[number] = text
    return out


_WORDS = re.compile(r"\w+")
# A text line belongs to a table when this share of its words are the table's words; the lines found
# must hold this share of the table's words, or the page keeps its text as it was.
_LINE_SHARE = 0.8
_TABLE_SHARE = 0.9


def _words(text: str) -> list[str]:
    # One-character words are left out: pypdf gives a symbol font's tick as its code ("3"), pdfplumber
    # as "(cid:51)", so such a word says nothing about which lines are the table's.
    return [w.lower() for w in _WORDS.findall(_CID.sub(" ", text)) if len(w) > 1]


def _vocabulary(cells: Cells) -> set[str]:
    return {w for row in cells for cell in row if cell for w in _words(cell)}


def _replace(text: str, tables: Sequence[tuple[list[str], set[str]]]) -> str | None:
    """Each table's run of lines in `text` replaced by its rows; None if a table's lines are not found."""
    lines = text.split("\n")
    taken = [False] * len(lines)
    blocks: list[tuple[int, int, list[str]]] = []
    for rows, vocab in tables:
        if not rows or not vocab:
            continue
        best, start, count = (0, 0, -1), -1, 0
        for i, line in enumerate(lines):
            words = _words(line)
            if not words:
                continue  # a blank line neither extends nor breaks a run
            if not taken[i] and sum(w in vocab for w in words) >= _LINE_SHARE * len(words):
                if start < 0:
                    start, count = i, 0
                count += len(words)
                if count > best[0]:
                    best = (count, start, i)
            else:
                start = -1
        _, first, last = best
        if last < 0:
            return None
        found = {w for ln in lines[first : last + 1] for w in _words(ln)}
        if len(found & vocab) < _TABLE_SHARE * len(vocab):
            return None
        for i in range(first, last + 1):
            taken[i] = True
        blocks.append((first, last, rows))
    if not blocks:
        return None
    out: list[str] = []
    at = 0
    for first, last, rows in sorted(blocks):
        # A blank line around the rows keeps the table a unit of its own for the chunker.
        out.extend([*lines[at:first], "", *rows, ""])
        at = last + 1
    out.extend(lines[at:])
    return "\n".join(out)


# A table's cell texts as pdfplumber extracts them, row by row (None: the cell is part of a merged one).
Cells = list[list[str | None]]


def _tables(page: Any) -> list[tuple[Any, Cells]]:
    """The page's tables of two or more filled rows and columns, with their cell texts (extracted once:
    it is most of a table's cost), top to bottom, none inside another."""
    found = []
    for t in page.find_tables():
        cells = t.extract()
        filled = [r for r in cells if sum(1 for c in r if c and c.strip()) >= 2]
        if len(filled) >= MIN_ROWS:
            found.append((t, cells))
    found.sort(key=lambda tc: (tc[0].bbox[1], tc[0].bbox[0]))
    kept: list[tuple[Any, Cells]] = []
    for t, cells in found:
        if not any(_contains(k.bbox, t.bbox) for k, _ in kept):
            kept.append((t, cells))
    return kept


def _contains(outer: Sequence[float], inner: Sequence[float]) -> bool:
    return bool(
        outer[0] <= inner[0] + 1 and outer[1] <= inner[1] + 1 and outer[2] >= inner[2] - 1 and outer[3] >= inner[3] - 1
    )


def _rows(table: Any, cells: Cells, fonts: dict[int, str]) -> list[str]:
    """One `| a | b |` line a row. A row whose first cell continues the one above (pdfplumber splits a
    tall cell where an inner rule stops) is merged into that row, so a row is what the page shows."""
    merged: list[tuple[list[str | None], list[tuple[float, float] | None]]] = []
    for row, row_cells in zip(table.rows, cells, strict=True):
        texts = [None if c is None else _cell_text(c, fonts) for c in row_cells]
        if merged and texts and texts[0] is None:
            prev = merged[-1][0]
            for i, text in enumerate(texts):
                if not text:
                    continue
                j = i
                while j > 0 and prev[j] is None:
                    j -= 1
                prev[j] = f"{prev[j]} {text}".strip() if prev[j] else text
            continue
        merged.append((texts, [None if b is None else (b[0], b[2]) for b in row.cells]))
    lines = []
    for texts, spans in merged:
        shown = [t for t, x in zip(texts, spans, strict=True) if t is not None and x is not None and _shown(x, spans)]
        if any(shown):
            lines.append("| " + " | ".join(shown) + " |")
    return lines


def _shown(x: tuple[float, float], spans: Sequence[tuple[float, float] | None]) -> bool:
    """A cell is a column of its row unless it is a sliver between double rules, or a box drawn inside a
    wider cell of the same row (pdfplumber reports both; the wider one already holds the text)."""
    if x[1] - x[0] < _SLIVER:
        return False
    return not any(o is not None and o != x and o[0] <= x[0] and x[1] <= o[1] for o in spans)


def join_cell_lines(text: str) -> str:
    """A cell's lines as one text: a line that breaks after a hyphen or dash ("prolonged‐" / "release",
    "decanoate—" / "prolonged") joins without a space, as the word is printed; others with one."""
    return re.sub(r"\s+", " ", re.sub(r"(?<=\w[-\u2010\u2014])\n(?=\w)", "", text)).strip()


def _cell_text(text: str, fonts: dict[int, str]) -> str:
    text = _CID.sub(lambda m: fonts.get(int(m.group(1)), "[symbol]"), text)
    return join_cell_lines(text).replace("|", "/")


def _symbol_fonts(page: Any) -> dict[int, str]:
    """The (cid:N) codes this page draws in a known symbol font, and what they show."""
    out = {}
    for ch in page.chars:
        m = _CID.fullmatch(ch["text"])
        if m:
            font = re.sub(r"^[A-Z]{6}\+", "", ch.get("fontname", "")).lower().replace(" ", "").replace("-", "")
            code = int(m.group(1))
            for (name, cid), shown in _SYMBOLS.items():
                if cid == code and font.startswith(name):
                    out[code] = shown
    return out
