"""One PDFium call at a time in this process.

PDFium is not thread-safe, not even across different documents (pypdfium2's documentation: calls from
two threads at once "would crash or corrupt the process"). Ingest reads ruled pages and renders scans
for OCR in a job thread while the API renders cited pages for the source viewer, so every use of
pypdfium2 in regassist holds this lock, and releases it for the slow work that is not PDFium's (Tesseract).
"""

from __future__ import annotations

import threading

LOCK = threading.RLock()
