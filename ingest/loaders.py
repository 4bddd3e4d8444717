"""Read PDF (OCR for scanned pages), Word, text, Markdown and HTML files into cleaned 1-based pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest.cleaning import clean_pdf_pages, clean_web_text, neutralise_markup, tidy_whitespace
from ingest.errors import IngestError, NeedsOCR
from ingest.ocr import ocr_pdf_pages
from ingest.tables import pages_with_tables
from ingest.types import PageInfo
from ingest.web import read_html
from ingest.word import read_docx

SUPPORTED = (".pdf", ".docx", ".txt", ".md", ".markdown", ".html", ".htm")
# A PDF page with fewer characters than this in its text layer is a scanned page, and is OCRed.
# No page of the bundled corpus is that short, so their text is exactly what it was before OCR existed.
_MIN_CHARS_PER_PAGE = 20

logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class LoadOptions:
    """Limits and OCR settings a loader needs (from IngestSettings)."""

    max_pages: int = 5000
    # Pages whose mean Tesseract word confidence is below this are reported and not indexed: text read
    # that poorly would be quoted to a reviewer as if the document said it.
    ocr_min_confidence: float = 60.0
    ocr_dpi: int = 300
    ocr_lang: str = "eng"


@dataclass(frozen=True)
class RawDocument:
    """Cleaned page texts of one file, before metadata and chunking.

    `pdf_title` is the title the file gives itself (PDF info, Word core properties, HTML <title>).
    `page_info` is empty or has one entry per page; `warnings` name pages read but not indexed.
    """

    pages: tuple[str, ...]
    pdf_title: str | None
    is_text_file: bool
    page_info: tuple[PageInfo, ...] = ()
    warnings: tuple[str, ...] = ()
    date: str | None = None
    site: str | None = None


def load(path: Path, data: bytes, max_pages: int = 5000, options: LoadOptions | None = None) -> RawDocument:
    """Load `data` (the bytes of `path`) by its extension; raise IngestError naming the file."""
    options = options or LoadOptions(max_pages=max_pages)
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise IngestError(path.name, f"unsupported file type '{suffix or '(none)'}'; supported: {', '.join(SUPPORTED)}")
    if not data.strip():
        raise IngestError(path.name, "file is empty")
    return loader(path, data, options)


def _load_pdf(path: Path, data: bytes, options: LoadOptions) -> RawDocument:
    max_pages = options.max_pages
    import io

    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise IngestError(path.name, "not a PDF (no %PDF header); the file may be damaged or misnamed")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many regulator PDFs are AES-encrypted with an empty user password.
            try:
                ok = reader.decrypt("")
            except (NotImplementedError, DependencyError) as exc:
                raise IngestError(path.name, f"encrypted PDF needs pypdf's crypto extra: {exc}") from exc
            if not ok:
                raise IngestError(path.name, "PDF is encrypted with a password; supply an unencrypted copy")
        n = len(reader.pages)
        if n == 0:
            raise IngestError(path.name, "PDF has no pages")
        if n > max_pages:
            raise IngestError(path.name, f"PDF has {n} pages, more than the limit of {max_pages} (max_pages)")
        texts = [page.extract_text() or "" for page in reader.pages]
        meta = reader.metadata
        title = meta.title if meta is not None and isinstance(meta.title, str) else None
    except IngestError:
        raise
    except FileNotDecryptedError as exc:
        raise IngestError(path.name, "PDF is encrypted with a password; supply an unencrypted copy") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise IngestError(path.name, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    scanned = [i for i, t in enumerate(texts, start=1) if len(t.strip()) < _MIN_CHARS_PER_PAGE]
    for number, text in _tables_whole(path, data, texts, [i for i in range(1, n + 1) if i not in scanned]).items():
        texts[number - 1] = text
    if not scanned:
        return RawDocument(pages=tuple(clean_pdf_pages(texts)), pdf_title=_plausible_title(title), is_text_file=False)
    info = [PageInfo() for _ in texts]
    warnings: list[str] = []
    read = ocr_pdf_pages(path.name, data, scanned, dpi=options.ocr_dpi, lang=options.ocr_lang)
    for number, page in read.items():
        if not page.text.strip():
            continue
        if page.confidence < options.ocr_min_confidence:
            warnings.append(
                f"{path.name}: page {number} not indexed: OCR confidence {page.confidence:.0f} is below "
                f"{options.ocr_min_confidence:.0f} (ocr_min_confidence); check the scan"
            )
            continue
        texts[number - 1] = page.text
        info[number - 1] = PageInfo(ocr_confidence=round(page.confidence, 1))
    if sum(len(t.strip()) for t in texts) < _MIN_CHARS_PER_PAGE:
        reason = "; ".join(w.split(": ", 1)[1] for w in warnings) or "OCR found no text on them"
        raise NeedsOCR(path.name, f"no text layer on its {n} page(s), and {reason}")
    return RawDocument(
        pages=tuple(clean_pdf_pages(texts)),
        pdf_title=_plausible_title(title),
        is_text_file=False,
        page_info=tuple(info),
        warnings=tuple(warnings),
    )


def _tables_whole(path: Path, data: bytes, texts: list[str], pages: list[int]) -> dict[int, str]:
    """Text pages with ruled tables, their table lines one row a line (ingest/tables.py); {} if that fails."""
    try:
        return pages_with_tables(data, texts, pages)
    except Exception as exc:  # pypdf's text of every page stands; only the rows are not whole
        logging.getLogger(__name__).warning(
            "%s: tables not read as rows (%s: %s); their text stays in reading order",
            path.name,
            type(exc).__name__,
            exc,
        )
        return {}


# Titles that a PDF's info, a Word file's core properties or a saved page's <title> carry without naming
# the document: a browser's blank page, an editor's placeholder, a template, or a file name.
_PLACEHOLDER_TITLE = re.compile(
    r"^(?:about:blank|untitled\b.*|document\s*\d*|new document|title|slide \d+|powerpoint presentation|"
    r"microsoft (?:word|powerpoint|excel)\b.*|.*\.(?:docx?|pdf|indd|html?|rtf|odt|pptx?|xlsx?|txt))$",
    re.IGNORECASE,
)


def _plausible_title(title: str | None) -> str | None:
    """The file's own title, or None when it is a placeholder (then the first line or the name is used)."""
    title = (title or "").strip()
    if len(title) < 8 or _PLACEHOLDER_TITLE.match(title):
        return None
    return title


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise IngestError(path.name, "binary content in a text file (NUL bytes); is this the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            path.name, f"not valid UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); re-save it as UTF-8"
        ) from exc


def _load_text(path: Path, data: bytes, options: LoadOptions) -> RawDocument:
    text = clean_web_text(_decode(path, data))
    if not text.strip():
        raise IngestError(path.name, "no text left after removing boilerplate")
    return RawDocument(pages=(text,), pdf_title=None, is_text_file=True)


def _load_html(path: Path, data: bytes, options: LoadOptions) -> RawDocument:
    try:
        markup: str | bytes = _decode(path, data)
    except IngestError:
        if b"\x00" in data[:4096]:
            raise
        markup = data  # not UTF-8: trafilatura reads the page's own charset declaration
    page = read_html(path.name, markup)
    # The text-file cleaning still runs after trafilatura: it is what the bundled web pages saved as text
    # are measured with (no cookie, navigation or disclaimer line in any chunk).
    text = clean_web_text(page.text)
    if not text.strip():
        raise IngestError(path.name, "no text in the HTML body after removing boilerplate")
    return RawDocument(
        pages=(text,), pdf_title=_plausible_title(page.title), is_text_file=True, date=page.date, site=page.site
    )


def _load_docx(path: Path, data: bytes, options: LoadOptions) -> RawDocument:
    sections, title = read_docx(path.name, data)
    if len(sections) > options.max_pages:
        raise IngestError(
            path.name, f"Word file has {len(sections)} sections, more than the limit of {options.max_pages} (max_pages)"
        )
    texts = [neutralise_markup(tidy_whitespace(s.text)) for s in sections]
    # Not a text file to the chunker: Word marks its headings (the `#` lines), so no short paragraph is
    # guessed to be one.
    return RawDocument(
        pages=tuple(texts),
        pdf_title=_plausible_title(title),
        is_text_file=False,
        page_info=tuple(PageInfo(label=s.label) for s in sections),
    )


try:
    from pypdf.errors import DependencyError
except ImportError:  # pragma: no cover - older pypdf
    DependencyError = ImportError  # type: ignore[misc,assignment]

_LOADERS: dict[str, Callable[[Path, bytes, LoadOptions], RawDocument]] = {
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".txt": _load_text,
    ".md": _load_text,
    ".markdown": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
}
