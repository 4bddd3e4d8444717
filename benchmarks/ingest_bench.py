"""Ingest benchmark on the bundled corpus: prints a table (run: .venv/bin/python benchmarks/ingest_bench.py)."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.embedding import OnnxEmbedder  # noqa: E402
from ingest.pipeline import Index  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402


def main() -> None:
    embedder = OnnxEmbedder()
    embedder.encode(["warm-up"])
    with tempfile.TemporaryDirectory() as tmp:
        settings = IngestSettings(data_dir=Path(tmp))
        index = Index(settings, embedder=embedder)
        t0 = time.perf_counter()
        report = index.ingest([ROOT / "corpus"])
        total = time.perf_counter() - t0
        texts = [t for _, t in index.catalog.iter_chunk_texts()]
        t1 = time.perf_counter()
        embedder.encode(texts)
        embed_alone = time.perf_counter() - t1
        t2 = time.perf_counter()
        again = index.ingest([ROOT / "corpus"])
        reingest = time.perf_counter() - t2
        assert again.count("unchanged") == len(again.results)
    peak_mb = (
        max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        / 1024
    )
    rows = [
        ("documents", f"{report.count('added')}", ""),
        ("pages", f"{report.pages}", ""),
        ("chunks", f"{report.chunks}", ""),
        ("whole ingest (s)", f"{total:.1f}", ""),
        ("pages/s", f"{report.pages / total:.1f}", ""),
        ("chunks/s", f"{report.chunks / total:.1f}", ""),
        ("embedding the same chunks alone (s)", f"{embed_alone:.1f}", ""),
        ("ingest / embedding alone", f"{total / embed_alone:.2f}x", "target <= 1.15x"),
        ("re-ingest unchanged corpus (s)", f"{reingest:.2f}", "target <= 3 s"),
        ("peak memory (MB, max of process and parse worker)", f"{peak_mb:.0f}", "target < 2048"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{width}} | value | target |")
    print(f"|{'-' * (width + 2)}|-------|--------|")
    for name, value, target in rows:
        print(f"| {name:<{width}} | {value} | {target} |")


if __name__ == "__main__":
    main()
