"""Read PDF, text, Markdown and HTML files into cleaned 1-based pages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ingest.cleaning import clean_pdf_pages, clean_web_text, tidy_whitespace
from ingest.errors import IngestError, NeedsOCR

SUPPORTED = (".pdf", ".txt", ".md", ".markdown", ".html", ".htm")
# Below this many characters on average per page, a PDF is a scan without a text layer.
_MIN_CHARS_PER_PAGE = 20

logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class RawDocument:
    """Cleaned page texts of one file, before metadata and chunking."""

    pages: tuple[str, ...]
    pdf_title: str | None
    is_text_file: bool


def load(path: Path, data: bytes, max_pages: int = 5000) -> RawDocument:
    """Load `data` (the bytes of `path`) by its extension; raise IngestError naming the file."""
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        raise IngestError(path.name, f"unsupported file type '{suffix or '(none)'}'; supported: {', '.join(SUPPORTED)}")
    if not data.strip():
        raise IngestError(path.name, "file is empty")
    return loader(path, data, max_pages)


def _load_pdf(path: Path, data: bytes, max_pages: int) -> RawDocument:
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
    total = sum(len(t.strip()) for t in texts)
    if total < _MIN_CHARS_PER_PAGE * n:
        raise NeedsOCR(path.name, f"needs OCR: {n} pages but only {total} characters of text (no text layer)")
    return RawDocument(pages=tuple(clean_pdf_pages(texts)), pdf_title=_plausible_title(title), is_text_file=False)


def _plausible_title(title: str | None) -> str | None:
    # PDF title fields often hold a file name or a template name, not the document's title.
    if not title or len(title) < 8 or re.search(r"\.(docx?|pdf|indd)$|^microsoft word", title, re.IGNORECASE):
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


def _load_text(path: Path, data: bytes, max_pages: int) -> RawDocument:
    text = clean_web_text(_decode(path, data))
    if not text.strip():
        raise IngestError(path.name, "no text left after removing boilerplate")
    return RawDocument(pages=(text,), pdf_title=None, is_text_file=True)


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "nav", "header", "footer", "aside", "form", "noscript", "svg"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip_depth = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self._BLOCK:
            self.parts.append("\n")
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and not self._skip_depth:
            self.parts.append("#" * int(tag[1]) + " ")
        if tag == "li" and not self._skip_depth:
            self.parts.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def _load_html(path: Path, data: bytes, max_pages: int) -> RawDocument:
    parser = _HTMLText()
    parser.feed(_decode(path, data))
    text = clean_web_text(tidy_whitespace("".join(parser.parts)))
    if not text.strip():
        raise IngestError(path.name, "no text in the HTML body")
    return RawDocument(pages=(text,), pdf_title=parser.title.strip() or None, is_text_file=True)


try:
    from pypdf.errors import DependencyError
except ImportError:  # pragma: no cover - older pypdf
    DependencyError = ImportError  # type: ignore[misc,assignment]

_LOADERS: dict[str, Callable[[Path, bytes, int], RawDocument]] = {
    ".pdf": _load_pdf,
    ".txt": _load_text,
    ".md": _load_text,
    ".markdown": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
}
