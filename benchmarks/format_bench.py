"""Ingest cost per page by format: text PDFs, OCRed scans, Word files; and peak memory. Prints a table.

Each format runs in its own process, so its peak memory is its own (run: .venv/bin/python
benchmarks/format_bench.py [--scan-pages 8] [--docx-sections 60]).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT_PDF = sorted(p.name for p in (ROOT / "corpus").glob("*.pdf"))
SCANNED_FROM = "ICH_E6-R3_GCP_EMA-step5_2025.pdf"  # pages 20 on, rendered at 200 dpi, one scan a file
DOCX_FROM = "ICH_E6-R3_GCP_EMA-step5_2025.pdf"


def _scans(folder: Path, pages: int) -> None:
    from tests.scanmaker import scan_of

    data = (ROOT / "corpus" / SCANNED_FROM).read_bytes()
    for n in range(pages):
        (folder / f"scan-{n + 1:02d}.pdf").write_bytes(scan_of(data, 20 + n))


def _docx(folder: Path, sections: int) -> None:
    """A Word file of `sections` heading-delimited sections, each one page of E6(R3) text."""
    from docx import Document

    from ingest.loaders import load

    pages = load(ROOT / "corpus" / DOCX_FROM, (ROOT / "corpus" / DOCX_FROM).read_bytes()).pages
    doc = Document()
    for n in range(sections):
        doc.add_heading(f"{n + 1} Section {n + 1}", level=1)
        for para in pages[(n + 5) % len(pages)].split("\n\n"):
            doc.add_paragraph(para.replace("\n", " "))
    buf = io.BytesIO()
    doc.save(buf)
    (folder / "e6-as-word.docx").write_bytes(buf.getvalue())


def one(kind: str, scan_pages: int, docx_sections: int) -> dict[str, float]:
    """Ingest one format into a fresh index; parse and whole-ingest seconds, pages, peak memory."""
    from ingest.embedding import SentenceTransformerEmbedder
    from ingest.parsing import parse_file
    from ingest.pipeline import Index, walk
    from ingest.settings import IngestSettings

    embedder = SentenceTransformerEmbedder()
    embedder.encode(["warm-up"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        if kind == "text PDF":
            for name in TEXT_PDF:
                (folder / name).write_bytes((ROOT / "corpus" / name).read_bytes())
        elif kind == "OCR page":
            _scans(folder, scan_pages)
        else:
            _docx(folder, docx_sections)
        s = IngestSettings(data_dir=Path(tmp) / "data")
        t0 = time.perf_counter()
        for f in walk([folder]).files:
            parse_file(str(f), f.read_bytes(), None, s.max_pages, s.chunk_max_tokens, s.embed_model, s.embed_context)
        parse = time.perf_counter() - t0
        index = Index(s, embedder=embedder)
        t1 = time.perf_counter()
        report = index.ingest([folder])
        whole = time.perf_counter() - t1
        assert report.count("failed") == 0, [r.error for r in report.results if r.error]
    peak = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    return {
        "files": report.count("added"),
        "pages": report.pages,
        "chunks": report.chunks,
        "parse_s": parse,
        "ingest_s": whole,
        "peak_mb": peak / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--scan-pages", type=int, default=8)
    ap.add_argument("--docx-sections", type=int, default=60)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.scan_pages, args.docx_sections)))
        return
    rows = []
    for kind in ("text PDF", "OCR page", "DOCX section"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                kind,
                "--scan-pages",
                str(args.scan_pages),
                "--docx-sections",
                str(args.docx_sections),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            sys.exit(f"{kind} failed:\n{out.stderr[-3000:]}")
        rows.append((kind, json.loads(out.stdout.strip().splitlines()[-1])))
    print("| format | files | pages | chunks | parse ms/page | ingest ms/page (with embedding) | peak memory MB |")
    print("|---|---|---|---|---|---|---|")
    for kind, r in rows:
        print(
            f"| {kind} | {r['files']:.0f} | {r['pages']:.0f} | {r['chunks']:.0f} | "
            f"{1000 * r['parse_s'] / r['pages']:.0f} | {1000 * r['ingest_s'] / r['pages']:.0f} | {r['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
