"""pypdf vs pypdf layout mode vs pypdfium2 vs ingest's default (pypdf with ruled tables one row a line) on the
bundled corpus's PDFs: word splits, run-together words, ligatures, gold quotes found verbatim, table rows
kept whole, speed. Prints a table; the default extractor is not changed by it.

Gold quotes are every PDF quote of the question sets, looked for (whitespace collapsed) on its page of
each extractor's cleaned text. They were written against ingest's own text, so the default has them by
construction: what the column shows is how much of what a reader quotes another extractor would lose.
Table rows are the rows pdfplumber finds on the MHRA antipsychotics table's five landscape pages; a row
counts as whole when one line of the page holds all its filled cells in order (tick marks, which each
extractor spells differently, are left out of the comparison).

A word split is two adjacent tokens that form a corpus word when joined ("valida tion") while one of them
is not a word; a run-together is a token that is not a word but splits into two words of 3+ letters
("shouldbe"). "Words" are the lowercase alphabetic tokens seen at least 3 times across all three outputs.
(run: .venv/bin/python benchmarks/pdf_text_compare.py)
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ingest.cleaning import clean_pdf_pages  # noqa: E402

logging.getLogger("pypdf").setLevel(logging.ERROR)
# Possessives and dotted abbreviations ("sponsor’s", "U.S.") are one token, so they are not counted as splits.
_TOKEN = re.compile(r"[A-Za-z\uFB00-\uFB06]+(?:['’.][A-Za-z\uFB00-\uFB06]+)*")
_LIGATURES = re.compile(r"[\uFB00-\uFB06]")


def _pypdf(mode: str) -> Callable[[bytes], list[str]]:
    def run(data: bytes) -> list[str]:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            reader.decrypt("")
        if mode == "layout":
            return [p.extract_text(extraction_mode="layout") or "" for p in reader.pages]
        return [p.extract_text() or "" for p in reader.pages]

    return run


def _pdfium(data: bytes) -> list[str]:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        out = []
        for page in doc:
            tp = page.get_textpage()
            out.append(tp.get_text_range().replace("\r\n", "\n").replace("\r", "\n"))
            tp.close()
            page.close()
        return out
    finally:
        doc.close()


def _default(data: bytes) -> list[str]:
    from ingest.tables import pages_with_tables

    texts = _pypdf("plain")(data)
    for number, text in pages_with_tables(data, texts, range(1, len(texts) + 1)).items():
        texts[number - 1] = text
    return texts


EXTRACTORS: dict[str, Callable[[bytes], list[str]]] = {
    "pypdf + table rows (ingest's default)": _default,
    "pypdf": _pypdf("plain"),
    "pypdf layout mode": _pypdf("layout"),
    "pypdfium2": _pdfium,
}


def main() -> None:
    files = sorted((ROOT / "corpus").glob("*.pdf"))
    texts: dict[str, dict[str, list[str]]] = {name: {} for name in EXTRACTORS}
    seconds: dict[str, float] = {}
    pages = 0
    empty: Counter[str] = Counter()
    for name, extract in EXTRACTORS.items():
        t0 = time.perf_counter()
        raw = {f.name: extract(f.read_bytes()) for f in files}
        seconds[name] = time.perf_counter() - t0
        for file, ps in raw.items():
            empty[name] += sum(1 for p in ps if len(p.strip()) < 20)
            # Counted after the cleaning every PDF gets (line numbers, furniture, hyphenation): what is chunked.
            texts[name][file] = clean_pdf_pages(ps)
    pages = sum(len(v) for v in texts["pypdf"].values())
    quotes = _gold_quotes()
    rows = _mhra_rows()
    counts: Counter[str] = Counter()
    for by_file in texts.values():
        for ps in by_file.values():
            for p in ps:
                counts.update(t.lower() for t in _TOKEN.findall(p) if not _LIGATURES.search(t))
    vocab = {w for w, c in counts.items() if c >= 3 and len(w) > 1} | {"a", "i"}
    print(f"{len(files)} PDFs, {pages} pages; vocabulary {len(vocab)} words", file=sys.stderr)
    print(
        "| extractor | words | splits per 1,000 words | run-together per 1,000 | ligature chars "
        f"| gold quotes verbatim (of {len(quotes)}) | MHRA table rows whole (of {len(rows)}) "
        "| pages without text | ms/page |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, by_file in texts.items():
        words = splits = joined = ligs = 0
        for ps in by_file.values():
            for p in ps:
                ligs += len(_LIGATURES.findall(p))
                toks = [t.lower() for t in _TOKEN.findall(p)]
                words += len(toks)
                for a, b in itertools.pairwise(toks):
                    if (a not in vocab or b not in vocab) and a + b in vocab:
                        splits += 1
                for t in toks:
                    splittable = any(t[:i] in vocab and t[i:] in vocab for i in range(3, len(t) - 2))
                    if t not in vocab and len(t) >= 6 and splittable:
                        joined += 1
        found = sum(
            1
            for file, page, quote in quotes
            if file in by_file and page <= len(by_file[file]) and quote in _flat(by_file[file][page - 1])
        )
        mhra = by_file.get(MHRA, [])
        whole = sum(1 for page, cells in rows if page <= len(mhra) and _row_whole(mhra[page - 1], cells))
        print(
            f"| {name} | {words:,} | {1000 * splits / words:.2f} | {1000 * joined / words:.2f} | {ligs} | "
            f"{found / len(quotes):.3f} | {whole} | {empty[name]} | {1000 * seconds[name] / pages:.1f} |"
        )


MHRA = "MHRA_learning_antipsychotics-licensed-indications-table.pdf"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _gold_quotes() -> list[tuple[str, int, str]]:
    out = []
    for path in sorted((ROOT / "evals" / "sets").glob("bundled*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for g in json.loads(line).get("evidence", []) if line.strip() else []:
                if g["file"].endswith(".pdf"):
                    out.append((g["file"], int(g["page"]), _flat(g["quote"])))
    return out


def _mhra_rows() -> list[tuple[int, list[str]]]:
    """(page, filled cells) of every row pdfplumber finds in the MHRA table, ticks left out."""
    import pdfplumber

    from ingest.tables import _tables, join_cell_lines

    out = []
    with pdfplumber.open(str(ROOT / "corpus" / MHRA)) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            for _, rows in _tables(page):
                for row in rows:
                    # A cell's lines joined as printed ("prolonged‐" / "release" is one word).
                    cells = [join_cell_lines(re.sub(r"\(cid:\d+\)", " ", c or "")) for c in row]
                    cells = [c for c in cells if len(c) > 1]
                    if row and row[0] and cells:
                        out.append((number, cells))
    return out


def _row_whole(page: str, cells: list[str]) -> bool:
    for line in page.split("\n"):
        line, at = _flat(line), 0
        for cell in cells:
            at = line.find(cell, at)
            if at < 0:
                break
            at += len(cell)
        else:
            return True
    return False


if __name__ == "__main__":
    main()
