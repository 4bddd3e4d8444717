"""The cited page as the page: PDF pages rendered to images, and each cited quote located on them as boxes.

The image is drawn from the very bytes that were indexed: the original is looked up where the library
keeps its files (the uploads folder, then the bundled corpus) and used only when its hash is the
document's id. A file edited on disk after ingest is not shown in place of the version that was cited.

Quotes are located on PDFium's own text of the page, compared on letters and digits only (case, spaces,
punctuation, ligatures and line-end hyphens aside), so the catalog's cleaned text and the PDF's text
layer agree on where a quote sits; a quote that runs on to the next page is matched by its longest
leading or trailing part on this one, and a quote the text layer spells differently by fuzzy alignment.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz

from ingest.cleaning import line_number_spans
from ingest.pdfium import LOCK

# Rendered width in pixels: sharp at the panel's widest (about 700 CSS px at 1.5 device pixels), and one
# file per page in the cache whatever the screen.
RENDER_WIDTH = 1100
# A fuzzy alignment below this (0–100) is not shown as a highlight: a box must point at the quoted words.
MIN_FUZZY = 90.0
# A quote's part on this page must be at least this many words to be boxed when the whole is not here.
MIN_PART_WORDS = 4

Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the page's width and height


@dataclass
class Located:
    """Where one quote sits on the page: boxes over the rendered page, and how it was found."""

    boxes: list[Box] = field(default_factory=list)
    how: str = "not found"  # "exact", "part" (the quote runs on to another page), "fuzzy" or "not found"


def _skeleton(text: str, skip: list[tuple[int, int]] | None = None) -> tuple[str, list[int]]:
    """The letters and digits of `text`, case-folded and NFKC-normalised, with each one's index in `text`;
    the characters in the `skip` spans (a draft's printed line numbers) left out."""
    chars: list[str] = []
    where: list[int] = []
    skipped = {i for a, b in skip or [] for i in range(a, b)}
    for i, ch in enumerate(text):
        if i in skipped:
            continue
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                chars.append(c)
                where.append(i)
    return "".join(chars), where


def page_skeleton(page_text: str) -> tuple[str, list[int]]:
    """A page's letters and digits without its printed line numbers, with their places: what quotes are
    matched against (built once a page, however many quotes are looked for on it)."""
    return _skeleton(page_text, line_number_spans(page_text))


def find_quote(
    page_text: str, quote: str, skeleton: tuple[str, list[int]] | None = None
) -> tuple[int, int, str] | None:
    """The [start, end) character range of `quote` in `page_text`, and how it was found, or None;
    `skeleton` is `page_skeleton(page_text)` when the caller has it already."""
    flat, where = skeleton or page_skeleton(page_text)
    if not flat:
        return None

    def span(a: int, b: int) -> tuple[int, int]:
        return where[a], where[b - 1] + 1

    needle = _skeleton(quote)[0]
    if not needle:
        return None
    at = flat.find(needle)
    if at >= 0:
        return (*span(at, at + len(needle)), "exact")
    words = quote.split()
    for leading in (True, False):
        # A prefix that is on the page has every shorter prefix on it too: binary search on its length.
        lo, hi, best = MIN_PART_WORDS, len(words) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            part = _skeleton(" ".join(words[:mid] if leading else words[-mid:]))[0]
            found = flat.find(part) if part else -1
            if found >= 0:
                best, lo = (found, found + len(part)), mid + 1
            else:
                hi = mid - 1
        if best:
            return (*span(*best), "part")
    aligned = fuzz.partial_ratio_alignment(needle, flat, score_cutoff=MIN_FUZZY)
    if aligned is not None and aligned.dest_end > aligned.dest_start:
        return (*span(aligned.dest_start, aligned.dest_end), "fuzzy")
    return None


class Originals:
    """The indexed bytes of a document, found by file name in the library's folders and checked by hash."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self._checked: dict[tuple[str, int, int], str] = {}  # (path, mtime_ns, size) -> document id
        self._lock = threading.Lock()

    def path(self, file: str, document_id: str, size: int) -> Path | None:
        for folder in self.folders:
            p = folder / file
            try:
                st = p.stat()
            except OSError:
                continue
            if st.st_size != size or not p.is_file():
                continue
            key = (str(p), st.st_mtime_ns, st.st_size)
            with self._lock:
                known = self._checked.get(key)
            if known is None:
                known = hashlib.sha256(p.read_bytes()).hexdigest()[: len(document_id)]
                with self._lock:
                    self._checked[key] = known
            if known == document_id:
                return p
        return None


@dataclass
class Geometry:
    """A page's size in PDF points and the located quotes, in the order asked."""

    width: float
    height: float
    located: list[Located]


def locate(path: Path, page: int, quotes: list[str]) -> Geometry:
    """Each quote's boxes on 1-based `page` of the PDF at `path`."""
    import pypdfium2 as pdfium

    with LOCK:
        pdf = pdfium.PdfDocument(path)
        try:
            p = pdf[page - 1]
            try:
                left, bottom, right, top = p.get_bbox()
                width, height = right - left, top - bottom
                rotated = p.get_rotation() != 0
                tp = p.get_textpage()
                try:
                    text = tp.get_text_range()
                    skeleton = page_skeleton(text)
                    located = []
                    for quote in quotes:
                        found = None if rotated else find_quote(text, quote, skeleton)
                        if found is None:
                            located.append(Located())
                            continue
                        start, end, how = found
                        boxes = []
                        for i in range(tp.count_rects(start, end - start)):
                            x0, y0, x1, y1 = tp.get_rect(i)
                            boxes.append(
                                (
                                    round((x0 - left) / width, 5),
                                    round((top - y1) / height, 5),
                                    round((x1 - left) / width, 5),
                                    round((top - y0) / height, 5),
                                )
                            )
                        located.append(Located(boxes, how))
                finally:
                    tp.close()
            finally:
                p.close()
        finally:
            pdf.close()
    return Geometry(width, height, located)


class PageImages:
    """PNG renderings of PDF pages, made on first view and kept in `cache` (keyed by document id)."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def png(self, path: Path, document_id: str, page: int) -> bytes:
        target = self.cache / document_id / f"{page}-{RENDER_WIDTH}.png"
        try:
            return target.read_bytes()
        except FileNotFoundError:
            pass
        import pypdfium2 as pdfium

        with LOCK:
            pdf = pdfium.PdfDocument(path)
            try:
                p = pdf[page - 1]
                try:
                    image = p.render(scale=RENDER_WIDTH / p.get_width(), may_draw_forms=False).to_pil()
                finally:
                    p.close()
            finally:
                pdf.close()
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "PNG", optimize=True)
        data = buf.getvalue()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # a reader sees the whole image or none
        return data
