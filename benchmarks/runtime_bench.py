"""The old runtime (sentence-transformers in torch) beside the new (ONNX Runtime), measured in one run.

Run: .venv/bin/python benchmarks/runtime_bench.py [--runs 3] [--skip-ingest] [--chunks 100000]
     [--obliqa ../shared/benchmarks/obliqa --obliqa-docs 6] [--work .regassist-bench]

Every command runs as a user runs it, `python -m api.cli ...` in a fresh process, old and new
alternating so that both see the same load. Wall time is the whole process, and CPU time (user +
system, the process and the children it waited for) is printed beside it because it moves less when
other work shares the machine; peak memory is the
largest resident set of any process of the command (wait4's ru_maxrss), and for ingest also the
sampled sum over the command's process tree (ingest has a parse worker, and the new runtime's first
ingest a child that makes the ONNX file). The new runtime's first ingest starts with an empty ONNX
cache, so it pays for making the file. Latencies are in-process: query embedding alone, and
retrieval (embedding, dense and BM25 search, fusion) over each runtime's own index of the bundled
corpus, every bundled question three times after a warm-up, each runtime in its own process (two
rounds, alternating; medians). Quality: bundled dev page hit@5 over
each index, and Recall@10 / MAP@10 of the convex hybrid on an ObliQA subset: the dev questions whose
gold passages all lie in the first `--obliqa-docs` documents, over those documents' passages, exact
dense search. Medians are printed with old/new ratios; nothing here is a test. With `--old-code DIR`
(a checkout of the code before the ONNX runtime) the old column's commands run that code, so start-up
and ingest are compared with the code as it was, not only the runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

QUESTION = "What does EU GMP Annex 11 expect about periodic evaluation of computerised systems?"
RUNTIMES = {"old": "sentence-transformers", "new": "onnx"}


# --- whole commands ------------------------------------------------------------------------------
def _tree_rss_mb(pid: int) -> float:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def run_cli(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run `regassist ARGS` in a fresh process: wall and CPU seconds (its whole tree), peaks in MB."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", *args], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    tree = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree[0] = max(tree[0], _tree_rss_mb(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"regassist {' '.join(args)} failed:\n{out.decode()[-2000:]}\n{err.decode()[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak": usage.ru_maxrss / 1024, "tree": tree[0]}


# --- in-process latency and quality -----------------------------------------------------------
def make(runtime: str, cache: Path) -> Any:
    from ingest.embedding import make_embedder

    return make_embedder(RUNTIMES[runtime], "all-MiniLM-L6-v2", cache_dir=cache)


def questions() -> list[str]:
    return [
        json.loads(line)["question"]
        for path in sorted((ROOT / "evals" / "sets").glob("bundled-*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def latencies(runtimes: list[str], work: Path, rounds: int = 2) -> dict[str, dict[str, float]]:
    """Query embedding and retrieval p50/p95 (ms) per runtime, each in its own process, runtimes alternating.

    One process holding both would let torch's spinning OpenMP threads and ONNX Runtime's steal each
    other's cores (it made both ten times slower here), so each round measures each runtime alone.
    """
    runs: dict[str, list[dict[str, float]]] = {rt: [] for rt in runtimes}
    for _ in range(rounds):
        for rt in runtimes:
            res = subprocess.run(
                [sys.executable, __file__, "--work", str(work), "--measure", rt],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            runs[rt].append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {rt: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for rt, rs in runs.items()}


def measure_latency(rt: str, work: Path) -> dict[str, float]:
    """One runtime's query-embedding and retrieval p50/p95 (ms), every bundled question three times."""
    from assistant.retrieval import HybridSearcher
    from ingest.pipeline import Index
    from ingest.settings import IngestSettings

    embedders = {rt: make(rt, work / "onnx")}
    searchers = {
        rt: HybridSearcher(Index(IngestSettings(data_dir=work / rt), embedder=e)) for rt, e in embedders.items()
    }
    qs = questions()
    times: dict[str, dict[str, list[float]]] = {rt: {"embed": [], "retrieval": []} for rt in embedders}
    for q in qs[:3]:
        for s in searchers.values():
            s.search(q)
    for _ in range(3):
        for q in qs:
            for rt, s in searchers.items():
                t0 = time.perf_counter()
                qvec = s.embed_query(q)
                t1 = time.perf_counter()
                s.search(q, qvec=qvec)
                t2 = time.perf_counter()
                times[rt]["embed"].append((t1 - t0) * 1000)
                times[rt]["retrieval"].append((t2 - t0) * 1000)
    return {f"{k}_{p}": float(np.percentile(v, p)) for k, v in times[rt].items() for p in (50, 95)}


def page_hit_at_5(embedder: Any, data: Path) -> float:
    """Bundled dev page hit@5 over the runtime's own index, as `regassist eval run` scores it."""
    from assistant.service import Assistant
    from evals.metrics import hit_at
    from evals.questions import SETS_DIR, load_questions
    from evals.runner import RETRIEVAL_K, rankings
    from ingest.pipeline import Index
    from ingest.settings import IngestSettings

    assistant = Assistant(Index(IngestSettings(data_dir=data), embedder=embedder))
    hits = []
    for q in load_questions(SETS_DIR / "bundled-dev.jsonl"):
        if q.answerable:
            ranked = rankings(assistant.searcher.search(q.question, k=RETRIEVAL_K))["page"]
            hits.append(hit_at(ranked, {(g.file, g.page) for g in q.evidence}, 5))
    return float(np.mean(hits))


class _Exact:
    """Exact dense search over an array, with ChromaStore's `vectors` for `complete_scores`."""

    def __init__(self, ids: list[str], vecs: np.ndarray) -> None:
        self.ids, self.vecs, self.row = ids, vecs, {i: n for n, i in enumerate(ids)}

    def query(self, q: np.ndarray, k: int) -> list[tuple[str, float]]:
        scores = self.vecs @ q
        top = np.argsort(-scores)[:k]
        return [(self.ids[i], float(scores[i])) for i in top]

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        return {i: self.vecs[self.row[i]] for i in ids}


def obliqa_subset(folder: Path, docs: int, embedders: dict[str, Any], work: Path) -> dict[str, dict[str, float]]:
    """Convex-hybrid Recall@10 / MAP@10 per runtime on the ObliQA dev subset described in the module doc."""
    from assistant.retrieval import complete_scores, convex_fuse
    from assistant.settings import AssistantSettings
    from evals.metrics import average_precision_at, recall_at
    from evals.obliqa import embed_text, load_corpus, questions_of
    from ingest.lexical import LexicalIndex

    passages, _ = load_corpus(folder)
    keep = sorted({p["DocumentID"] for p in passages})[:docs]
    passages = [p for p in passages if p["DocumentID"] in keep]
    ids = {p["ID"] for p in passages}
    qs, gold = questions_of(folder, "dev")
    qs = [q for q in qs if gold[q["QuestionID"]] <= ids]
    lexical = LexicalIndex(work / f"obliqa-{docs}-lexical")
    lexical.build(((p["ID"], p["Passage"]) for p in passages), generation=1)
    alpha = AssistantSettings().fusion_alpha
    out: dict[str, dict[str, float]] = {}
    for rt, e in embedders.items():
        t0 = time.perf_counter()
        store = _Exact([p["ID"] for p in passages], e.encode([embed_text(p) for p in passages]))
        embed_s = time.perf_counter() - t0
        recalls, maps = [], []
        for q in qs:
            qvec = e.encode([q["Question"]])[0]
            dense, lex = dict(store.query(qvec, 40)), dict(lexical.query(q["Question"], 40))
            complete_scores(store, lexical, q["Question"], qvec, dense, lex)  # type: ignore[arg-type]
            fused = convex_fuse(dense, lex, alpha)
            ranked = sorted(fused, key=lambda c: -fused[c])[:10]
            recalls.append(recall_at(ranked, gold[q["QuestionID"]], 10))
            maps.append(average_precision_at(ranked, gold[q["QuestionID"]], 10))
        out[rt] = {
            "recall@10": float(np.mean(recalls)),
            "map@10": float(np.mean(maps)),
            "questions": float(len(qs)),
            "passages": float(len(passages)),
            "passages_per_s": len(passages) / embed_s,
        }
    return out


# --- the table ---------------------------------------------------------------------------------
def _row(name: str, old: float, new: float, unit: str, target: str = "", digits: int = 2) -> str:
    ratio = f"{new / old:.2f}" if old else ""
    return f"| {name} | {old:.{digits}f} {unit} | {new:.{digits}f} {unit} | {ratio} | {target} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each command per runtime (medians printed)")
    ap.add_argument("--skip-ingest", action="store_true", help="reuse the indexes in --work; do not time ingest")
    ap.add_argument("--work", type=Path, default=ROOT / ".regassist-bench", help="indexes and ONNX cache")
    ap.add_argument("--chunks", type=int, default=0, help="also time retrieval at this many chunks (e.g. 100000)")
    ap.add_argument("--obliqa", type=Path, default=None, help="the ObliQA folder, for the subset figure")
    ap.add_argument("--obliqa-docs", type=int, default=6, help="how many ObliQA documents the subset keeps")
    ap.add_argument(
        "--old-code", type=Path, default=None, help="run the old column's commands from this checkout (the code before)"
    )
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    work: Path = args.work
    if args.measure:
        print(json.dumps(measure_latency(args.measure, work)))
        return
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "onnx"
    env = {rt: {"REGASSIST_EMBED_BACKEND": b, "REGASSIST_MODEL_CACHE": str(cache)} for rt, b in RUNTIMES.items()}
    if args.old_code:
        env["old"]["PYTHONPATH"] = str(args.old_code.resolve())
    rows: list[str] = []
    ingest: dict[str, dict[str, float]] = {}
    if not args.skip_ingest or not all((work / rt / "catalog.sqlite3").exists() for rt in RUNTIMES):
        shutil.rmtree(cache, ignore_errors=True)
        for rt in RUNTIMES:
            shutil.rmtree(work / rt, ignore_errors=True)
            print(f"first ingest, {rt} runtime ...", file=sys.stderr, flush=True)
            ingest[rt] = run_cli(["ingest", str(ROOT / "corpus"), "--data-dir", str(work / rt)], env[rt])
    asks: dict[str, list[dict[str, float]]] = {rt: [] for rt in RUNTIMES}
    docs: dict[str, list[dict[str, float]]] = {rt: [] for rt in RUNTIMES}
    helps: list[float] = []
    old_helps: list[float] = []
    for i in range(args.runs):
        print(f"ask, docs and --help, run {i + 1} of {args.runs} ...", file=sys.stderr, flush=True)
        for rt in RUNTIMES:
            asks[rt].append(run_cli(["ask", QUESTION, "--data-dir", str(work / rt)], env[rt]))
            docs[rt].append(run_cli(["docs", "--data-dir", str(work / rt)], env[rt]))
        helps.append(run_cli(["--help"], {})["wall"])
        if args.old_code:
            old_helps.append(run_cli(["--help"], {"PYTHONPATH": env["old"]["PYTHONPATH"]})["wall"])

    def med(xs: list[dict[str, float]], key: str) -> float:
        return float(np.median([x[key] for x in xs]))

    rows.append(
        _row("`regassist ask` wall (median)", med(asks["old"], "wall"), med(asks["new"], "wall"), "s", "<= 1.5 s")
    )
    rows.append(_row("`regassist ask` CPU time (median)", med(asks["old"], "cpu"), med(asks["new"], "cpu"), "s"))
    rows.append(_row("`regassist ask` peak", med(asks["old"], "peak"), med(asks["new"], "peak"), "MB", "<= 350 MB", 0))
    rows.append(_row("`regassist docs` wall", med(docs["old"], "wall"), med(docs["new"], "wall"), "s", "<= 0.5 s"))
    if old_helps:
        rows.append(_row("`regassist --help` wall", float(np.median(old_helps)), float(np.median(helps)), "s"))
    else:
        rows.append(f"| `regassist --help` wall (no model either way) | | {float(np.median(helps)):.2f} s | | |")
    if ingest:
        o, n = ingest["old"], ingest["new"]
        rows.append(_row("first ingest of the bundled corpus, wall", o["wall"], n["wall"], "s", "<= 0.6 x old", 1))
        rows.append(_row("first ingest, CPU time (all its processes)", o["cpu"], n["cpu"], "s", "", 1))
        rows.append(_row("first ingest, peak of the largest process", o["peak"], n["peak"], "MB", "<= 1 GB", 0))
        rows.append(_row("first ingest, peak of the process tree (sampled)", o["tree"], n["tree"], "MB", "", 0))
    print("latency, each runtime in its own process ...", file=sys.stderr, flush=True)
    lat = latencies(list(RUNTIMES), work)
    embedders = {rt: make(rt, cache) for rt in RUNTIMES}
    for key, target in (("embed", "p50 <= 5 ms"), ("retrieval", "")):
        for p in (50, 95):
            label = "query embedding" if key == "embed" else "retrieval, bundled corpus (embedding included)"
            old, new = lat["old"][f"{key}_{p}"], lat["new"][f"{key}_{p}"]
            rows.append(_row(f"{label} p{p}", old, new, "ms", target if p == 50 else "", 1))
    hits = {rt: page_hit_at_5(e, work / rt) for rt, e in embedders.items()}
    rows.append(_row("bundled dev page hit@5", hits["old"], hits["new"], "", "unchanged", 3))
    if args.obliqa:
        print("ObliQA subset ...", file=sys.stderr, flush=True)
        ob = obliqa_subset(args.obliqa, args.obliqa_docs, embedders, work)
        what = f"{ob['new']['questions']:.0f} dev questions, {ob['new']['passages']:.0f} passages"
        for m in ("recall@10", "map@10"):
            rows.append(_row(f"ObliQA dev subset ({what}) convex {m}", ob["old"][m], ob["new"][m], "", "unchanged", 4))
        rows.append(
            _row(
                "ObliQA passages embedded per second",
                ob["old"]["passages_per_s"],
                ob["new"]["passages_per_s"],
                "/s",
                "",
                1,
            )
        )
    if args.chunks:
        rows += scaled(args.chunks, embedders, work)
    old = f"old code ({args.old_code}), torch" if args.old_code else "old: sentence-transformers (torch)"
    print(f"| measure | {old} | new: ONNX Runtime fp32 | new / old | target |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


def scaled(chunks: int, embedders: dict[str, Any], work: Path) -> list[str]:
    """Retrieval p50/p95 at `chunks` chunks, over the synthetic index of `answer_bench.py`, per runtime."""
    from answer_bench import build_scaled

    from assistant.retrieval import HybridSearcher
    from ingest.pipeline import Index
    from ingest.settings import IngestSettings

    searchers = {}
    for rt, e in embedders.items():
        data = work / f"{rt}-{chunks}"
        if not (data / "catalog.sqlite3").exists():
            print(f"building a {chunks:,}-chunk index for the {rt} runtime ...", file=sys.stderr, flush=True)
            build_scaled(Index(IngestSettings(data_dir=work / rt), embedder=e), data, chunks)
        searchers[rt] = HybridSearcher(Index(IngestSettings(data_dir=data), embedder=e))
    qs = questions()
    for s in searchers.values():
        s.search(qs[0])
    times: dict[str, list[float]] = {rt: [] for rt in searchers}
    for _ in range(2):
        for q in qs:
            for rt, s in searchers.items():
                t0 = time.perf_counter()
                s.search(q)
                times[rt].append((time.perf_counter() - t0) * 1000)
    return [
        _row(
            f"retrieval at {chunks:,} chunks p{p} (embedding included)",
            float(np.percentile(times["old"], p)),
            float(np.percentile(times["new"], p)),
            "ms",
            "p95 <= 35 ms" if p == 95 else "",
            1,
        )
        for p in (50, 95)
    ]


if __name__ == "__main__":
    main()
