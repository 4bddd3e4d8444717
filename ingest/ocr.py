"""OCR of PDF pages that have no text layer: pypdfium2 renders the page, Tesseract reads it.

Pages are read one by one, so an OCRed page keeps its page number and a citation can say "(OCR)".
Tesseract's mean word confidence (0-100) is kept with the page.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from ingest.errors import NeedsOCR
from ingest.pdfium import LOCK

INSTALL_HINT = "install Tesseract (Debian: apt-get install tesseract-ocr tesseract-ocr-eng)"


@dataclass(frozen=True)
class OcrPage:
    """The text Tesseract read on one page and its mean word confidence."""

    text: str
    confidence: float  # 0-100; 0.0 when no word was found


def tesseract_missing() -> bool:
    """Whether the `tesseract` command cannot be found."""
    return shutil.which("tesseract") is None


def ocr_pdf_pages(name: str, data: bytes, numbers: list[int], dpi: int = 300, lang: str = "eng") -> dict[int, OcrPage]:
    """OCR the given 1-based pages of a PDF; raise NeedsOCR naming the file when Tesseract is missing."""
    if tesseract_missing():
        pages = ", ".join(map(str, numbers[:10])) + (" …" if len(numbers) > 10 else "")
        raise NeedsOCR(name, f"needs OCR: page(s) {pages} have no text layer, and Tesseract is missing; {INSTALL_HINT}")
    import pypdfium2 as pdfium
    import pytesseract

    out: dict[int, OcrPage] = {}
    with LOCK:
        pdf = pdfium.PdfDocument(data)
    try:
        for number in numbers:
            with LOCK:  # PDFium renders; Tesseract reads outside the lock
                page = pdf[number - 1]
                try:
                    image = page.render(scale=dpi / 72, grayscale=True).to_pil()
                finally:
                    page.close()
            words = pytesseract.image_to_data(image, lang=lang, output_type=pytesseract.Output.DICT)
            out[number] = _assemble(words)
    finally:
        with LOCK:
            pdf.close()
    return out


def _assemble(words: dict[str, list[object]]) -> OcrPage:
    """Tesseract's words back into lines and paragraphs, and their mean confidence."""
    lines: list[str] = []
    confs: list[float] = []
    current: tuple[object, object, object] | None = None
    paragraph: tuple[object, object] | None = None
    for i, word in enumerate(words["text"]):
        text = str(word).strip()
        conf = float(str(words["conf"][i]))
        if not text or conf < 0:
            continue
        confs.append(conf)
        key = (words["block_num"][i], words["par_num"][i], words["line_num"][i])
        if key != current:
            if paragraph is not None and key[:2] != paragraph:
                lines.append("")
            lines.append(text)
            current, paragraph = key, key[:2]
        else:
            lines[-1] += " " + text
    return OcrPage("\n".join(lines), sum(confs) / len(confs) if confs else 0.0)
