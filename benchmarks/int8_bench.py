"""ONNX fp32 beside int8 (dynamic, per-channel QInt8 MatMul weights): is int8 free? Prints a table.

Run: .venv/bin/python benchmarks/int8_bench.py [--obliqa ../shared/benchmarks/obliqa --obliqa-docs 6]

Measured on the bundled corpus's 2,251 chunks (the texts ingest embeds): cosine of each int8 vector with
its fp32 vector, top-10 overlap of exact dense search for every bundled question, and embedding speed;
bundled dev page hit@5 over an index of each precision (chunks only; sentence heads are not needed to
retrieve); and the convex hybrid's Recall@10 / MAP@10 on the ObliQA dev subset of `runtime_bench.py`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from runtime_bench import obliqa_subset, page_hit_at_5, questions  # noqa: E402

from ingest.embedding import OnnxEmbedder  # noqa: E402
from ingest.pipeline import Index  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--obliqa", type=Path, default=None)
    ap.add_argument("--obliqa-docs", type=int, default=6)
    args = ap.parse_args()
    embedders = {p: OnnxEmbedder(precision=p) for p in ("fp32", "int8")}
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speed, vecs = {}, {}
        for p, e in embedders.items():
            index = Index(IngestSettings(data_dir=work / p, embed_precision=p), embedder=e)
            t0 = time.perf_counter()
            index.ingest([ROOT / "corpus"])
            speed[p] = time.perf_counter() - t0
            ids = sorted(index.catalog.chunk_ids())
            stored = index.vectors.vectors(ids)
            vecs[p] = (ids, np.stack([stored[i] for i in ids]))
            index.close()
        (ids, f32), (_, i8) = vecs["fp32"], vecs["int8"]
        cos = np.sum(f32 * i8, axis=1)
        qs = questions()
        q32, q8 = embedders["fp32"].encode(qs), embedders["int8"].encode(qs)
        top32 = np.argsort(-(q32 @ f32.T), axis=1)[:, :10]
        top8 = np.argsort(-(q8 @ i8.T), axis=1)[:, :10]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top32, top8, strict=True)])
        rows.append(("chunk vectors, cosine int8 vs fp32 (mean / min)", "1", f"{cos.mean():.4f} / {cos.min():.4f}"))
        rows.append((f"top-10 overlap with fp32, exact dense search, {len(qs)} questions", "1", f"{overlap:.3f}"))
        rows.append(("ingest of the bundled corpus, chunks only (s)", f"{speed['fp32']:.1f}", f"{speed['int8']:.1f}"))
        hits = {p: page_hit_at_5(e, work / p) for p, e in embedders.items()}
        rows.append(("bundled dev page hit@5", f"{hits['fp32']:.3f}", f"{hits['int8']:.3f}"))
        if args.obliqa:
            ob = obliqa_subset(args.obliqa, args.obliqa_docs, embedders, work)
            what = f"{ob['fp32']['questions']:.0f} dev questions, {ob['fp32']['passages']:.0f} passages"
            for m in ("recall@10", "map@10"):
                rows.append((f"ObliQA dev subset ({what}) convex {m}", f"{ob['fp32'][m]:.4f}", f"{ob['int8'][m]:.4f}"))
            rows.append(
                (
                    "ObliQA passages embedded per second",
                    f"{ob['fp32']['passages_per_s']:.1f}",
                    f"{ob['int8']['passages_per_s']:.1f}",
                )
            )
    print("| measure | ONNX fp32 | ONNX int8 |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {' | '.join(r)} |")


if __name__ == "__main__":
    main()
