"""Scanned PDFs for tests: a real page rendered to an image and wrapped back into a PDF with no text layer."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter


def scan_of(pdf: bytes, page: int, dpi: int = 200) -> bytes:
    """A one-page image-only PDF of 1-based `page` of `pdf`, as a scanner at `dpi` would make it."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        image = doc[page - 1].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        doc.close()
    buf = io.BytesIO()
    image.save(buf, format="PDF", resolution=dpi)
    return buf.getvalue()


def join_pdfs(*pdfs: bytes) -> bytes:
    """The pages of several PDFs, in order, as one PDF."""
    writer = PdfWriter()
    for data in pdfs:
        for p in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(p)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()
