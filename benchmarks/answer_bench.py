"""Retrieval and extractive-answer latency on the bundled corpus and on an index of about 100,000 chunks.

Run: .venv/bin/python benchmarks/answer_bench.py [--chunks 100000] [--work DIR] [--fusion convex,rrf]

The 100k index is the bundled corpus plus synthetic chunks. Each synthetic chunk mixes the sentences of
two or three real chunks, and its vector is the normalised mean of theirs plus a little noise. Text and
vectors therefore keep the corpus's vocabulary and its clustered geometry (uniform random vectors would
flatter neither HNSW nor BM25), and building it needs no hours of embedding on two cores. Each index is
measured in its own subprocess, so the peak memory reported is that of a process that only answers.
Latencies are medians and 95th percentiles over every question of the bundled question sets, asked
three times each after a warm-up. With several fusion methods, each index is measured with each, in the
same run, so their ratios are comparable.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.service import Assistant  # noqa: E402
from assistant.settings import AssistantSettings  # noqa: E402
from ingest.embedding import OnnxEmbedder  # noqa: E402
from ingest.pipeline import Index, _chroma_metadata  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402
from ingest.types import Chunk, DocumentMeta  # noqa: E402

QUESTION_SETS = sorted((ROOT / "evals" / "sets").glob("bundled-*.jsonl"))


def questions() -> list[str]:
    out: list[str] = []
    for path in QUESTION_SETS:
        out += [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    if not out:
        raise SystemExit(f"no questions found in {ROOT / 'evals' / 'sets'}")
    return out


def build_corpus(data: Path, embedder: OnnxEmbedder) -> Index:
    index = Index(IngestSettings(data_dir=data), embedder=embedder)
    index.ingest([ROOT / "corpus"])
    Assistant(index).warm()  # as `regassist ingest` does: sentence heads embedded once, after ingest
    return index


def build_scaled(base: Index, data: Path, target: int, seed: int = 7) -> int:
    """Copy the corpus index into `data` and pad it with synthetic chunks up to `target`; return the count."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    docs = base.catalog.documents()
    real: list[Chunk] = []
    for row in docs:
        real += base.catalog.chunks_of_document(row["document_id"])
    vecs = base.vectors.vectors([c.chunk_id for c in real])
    texts = dict(base.catalog.iter_chunk_texts())
    index = Index(IngestSettings(data_dir=data), embedder=base.embedder)
    # Synthetic chunks reuse the corpus's sentences, so they reuse its sentence-head cache; heads it lacks
    # (sentences cut at the synthetic chunk's end) are embedded on first use.
    shutil.copy(base.data_dir / "heads.sqlite3", data / "heads.sqlite3")
    # The real documents first, with their real vectors.
    for row in docs:
        chunks = base.catalog.chunks_of_document(row["document_id"])
        pages = [base.catalog.page_text(row["document_id"], p) or "" for p in range(1, row["pages"] + 1)]
        index.catalog.replace_document(
            row["file"],
            row["document_id"],
            chunks[0].meta,
            pages,
            row["size_bytes"],
            [(c, texts[c.chunk_id]) for c in chunks],
        )
        ids = [c.chunk_id for c in chunks]
        index.vectors.upsert(ids, np.stack([vecs[i] for i in ids]), [_chroma_metadata(c) for c in chunks])
    total = len(real)
    per_doc = 500
    n_doc = 0
    while total < target:
        n = min(per_doc, target - total)
        doc_id = f"synthetic{n_doc:05d}"
        meta = DocumentMeta(
            title=f"Synthetic document {n_doc}",
            issuing_body=rng.choice(["EMA", "FDA", "MHRA", "ICH"]),
            status="final",
            year=rng.choice([2015, 2020, 2024]),
        )
        chunks_out: list[tuple[Chunk, str]] = []
        out_vecs = []
        for i in range(n):
            parts = rng.sample(real, rng.choice([2, 3]))
            sentences = [s for p in parts for s in p.text.split(". ")]
            rng.shuffle(sentences)
            text = ". ".join(sentences)[:1400]
            v = np.mean([vecs[p.chunk_id] for p in parts], axis=0) + nrng.normal(0, 0.01, vecs[parts[0].chunk_id].shape)
            out_vecs.append(v / np.linalg.norm(v))
            chunks_out.append(
                (
                    Chunk(
                        f"{doc_id}-{i:04d}",
                        doc_id,
                        f"{doc_id}.txt",
                        meta.title,
                        i,
                        "",
                        (),
                        1,
                        1,
                        0,
                        len(text),
                        text,
                        meta=meta,
                    ),
                    text,
                )
            )
        index.catalog.replace_document(
            f"{doc_id}.txt",
            doc_id,
            meta,
            [c.text for c, _ in chunks_out][:1],
            sum(len(t) for _, t in chunks_out),
            chunks_out,
        )
        index.vectors.upsert(
            [c.chunk_id for c, _ in chunks_out], np.stack(out_vecs), [_chroma_metadata(c) for c, _ in chunks_out]
        )
        total += n
        n_doc += 1
        if n_doc % 20 == 0:
            print(f"  built {total:,} chunks", file=sys.stderr, flush=True)
    index.refresh_lexical()
    index.close()
    return total


def peak_rss_mb() -> float:
    """This process's peak resident memory. ru_maxrss would do, but Linux carries it across exec, so a child
    started by a parent that built a large index reports the parent's peak; VmHWM starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(data: Path, fusion: str, repeats: int = 3) -> dict[str, float]:
    """Answer every question `repeats` times against the index in `data`; latencies in ms, memory in MB."""
    embedder = OnnxEmbedder()
    index = Index(IngestSettings(data_dir=data), embedder=embedder)
    assistant = Assistant(index, AssistantSettings.model_validate({"fusion": fusion}))
    qs = questions()
    for q in qs[:3]:
        assistant.ask(q)
    embed_ms, search_ms, retrieval_ms, answer_ms = [], [], [], []
    for _ in range(repeats):
        for q in qs:
            t0 = time.perf_counter()
            qvec = assistant.searcher.embed_query(q)
            t1 = time.perf_counter()
            assistant.searcher.search(q, qvec=qvec)
            t2 = time.perf_counter()
            assistant.ask(q)
            t3 = time.perf_counter()
            embed_ms.append((t1 - t0) * 1000)
            search_ms.append((t2 - t1) * 1000)
            retrieval_ms.append((t2 - t0) * 1000)
            answer_ms.append((t3 - t2) * 1000)
    out = {"chunks": float(len(index.catalog.chunk_ids())), "questions": float(len(qs) * repeats)}
    for name, xs in (("embed", embed_ms), ("search", search_ms), ("retrieval", retrieval_ms), ("answer", answer_ms)):
        out[f"{name}_p50"] = float(np.percentile(xs, 50))
        out[f"{name}_p95"] = float(np.percentile(xs, 95))
    out["peak_mb"] = peak_rss_mb()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000, help="size of the scaled index")
    ap.add_argument("--work", type=Path, default=None, help="keep the built indexes here (default: a temp dir)")
    ap.add_argument("--fusion", default="convex,rrf", help="fusion methods to measure, comma-separated")
    ap.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    fusions = args.fusion.split(",")
    if args.measure:
        print(json.dumps(measure(args.measure, fusions[0])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        corpus_dir, scaled_dir = work / "corpus", work / f"scaled-{args.chunks}"
        embedder = OnnxEmbedder()
        base = build_corpus(corpus_dir, embedder)
        if not (scaled_dir / "catalog.sqlite3").exists():
            t = time.perf_counter()
            n = build_scaled(base, scaled_dir, args.chunks)
            print(f"built a {n:,}-chunk index in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        base.close()
        rows = []
        for label, data in (("bundled corpus", corpus_dir), (f"~{args.chunks // 1000}k chunks", scaled_dir)):
            for fusion in fusions:
                res = subprocess.run(
                    [sys.executable, __file__, "--measure", str(data), "--fusion", fusion],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append((f"{label}, {fusion} fusion", json.loads(res.stdout.strip().splitlines()[-1])))
    print(
        "| index | chunks | queries | query embedding p50 / p95 | search p50 / p95 | retrieval p50 / p95 "
        "(target p95 <= 50 ms at 100k) | extractive answer p50 / p95 (target p95 <= 150 ms) | peak memory |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, r in rows:
        print(
            f"| {label} | {r['chunks']:,.0f} | {r['questions']:.0f} | {r['embed_p50']:.1f} / {r['embed_p95']:.1f} ms"
            f" | {r['search_p50']:.1f} / {r['search_p95']:.1f} ms | {r['retrieval_p50']:.1f} / "
            f"{r['retrieval_p95']:.1f} ms | {r['answer_p50']:.1f} / {r['answer_p95']:.1f} ms | {r['peak_mb']:.0f} MB |"
        )


if __name__ == "__main__":
    main()
