"""Lexical search across processes: a per-process BM25 snapshot (bm25s) against PostgreSQL full-text search.

Run: .venv/bin/python benchmarks/lexical_bench.py [--sizes 100000 1000000] [--skip-quality] [--out FILE]

(a) is what the project does today: each API process holds the bm25s snapshot `ingest.lexical.LexicalIndex`
built for the catalog's generation and rebuilds or reloads it when the generation changes. (b) keeps the
terms in PostgreSQL: a table (id, tsv tsvector) with a GIN index, queried with the OR of the question's
tokens and ranked by ts_rank or ts_rank_cd (normalisations 0, 1, 2, 32). Both use the project's tokenizer
(`ingest.lexical.tokenize`: references kept whole, stopwords, Snowball stems). PostgreSQL gets the tokens
two ways: "exact", the tokens as a tsvector literal and the query as a tsquery literal, each lexeme quoted,
so a token is a lexeme as it is; and "simple", `to_tsvector('simple', tokens joined)` and
`to_tsquery('simple', quoted tokens ORed)`, where PostgreSQL's parser splits "820.70(i)" into "820.70"
and "i" again (and the query into the phrase '820.70' <-> 'i'). A check at start-up shows both.

Quality: ObliQA dev (its passages as the corpus; Recall@10 and MAP@10 as `evals.obliqa.evaluate` scores
them) and the bundled dev part (`evals/sets/bundled-dev.jsonl`, answerable questions; its gold is pages, so
page hit@k: one of the top k chunks lies on a gold (file, page)). The bundled catalog is the project's own
ingest of corpus/ with the hashing embedder (chunking does not depend on the embedder), read straight from
its SQLite file. Latencies include tokenising the question; PostgreSQL's include the round trip.

Scale: a synthetic corpus of N chunks sampled with replacement from the real ones (ObliQA passages and
bundled chunks), each with two sentences swapped, a sentence from another chunk appended and a unique id
token (so the vocabulary grows by one term per chunk), stored in SQLite as a catalog would be. The BM25
build (tokenising, indexing, saving: what a process does on a generation change) and the load run in
child processes of their own, so their peak memory is theirs alone. PostgreSQL's equivalent is inserting
the rows (tokenising included) and creating the GIN index, once for all processes. A design that runs
past --budget-s at a size is stopped and its time extrapolated linearly, and labelled as such.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.metrics import average_precision_at, percentile, recall_at  # noqa: E402
from evals.questions import load_questions, resolve_set  # noqa: E402
from ingest.lexical import LexicalIndex, tokenize  # noqa: E402

OBLIQA = Path("/work/shared/benchmarks/obliqa")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_SETTINGS = {"shared_buffers": "2GB", "maintenance_work_mem": "1GB", "work_mem": "64MB"}
RANKS = ("ts_rank", "ts_rank_cd")
NORMS = (0, 1, 2, 32)
# The variant best on ObliQA dev Recall@10 in the recorded run; used for the scale runs with --skip-quality.
DEFAULT_VARIANT = ("exact", "ts_rank", 1)
BATCH = 2000
WARMUP = 3
TRICKY = ("820.70(i)", "e6(r3)", "3.10.1.2", "part11", "503b", "it's", "a\\b", "x:y", "a&b|c!", "(x)", "w*", "<->")

Search = Callable[[str], list[str]]
Row = dict[str, Any]


# --- measuring ---------------------------------------------------------------------------------
def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status (Linux only)")


def folder_mb(folder: Path) -> float:
    """Size on disk of the files under a folder, in MB."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def timed(search: Search, texts: list[str]) -> tuple[list[list[str]], list[float]]:
    """Every text's ranking and its latency in ms, after a few untimed warm-up queries."""
    for text in texts[:WARMUP]:
        search(text)
    ranked, ms = [], []
    for text in texts:
        t0 = time.perf_counter()
        ranked.append(search(text))
        ms.append((time.perf_counter() - t0) * 1000)
    return ranked, ms


def latency(ms: list[float]) -> Row:
    """p50 and p95 of latencies in ms."""
    return {"p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "queries": len(ms)}


# --- the corpora and their scores ---------------------------------------------------------------
@dataclass(frozen=True)
class Corpus:
    """Chunks to index, questions to ask, and how a list of top-10 rankings is scored."""

    name: str
    items: list[tuple[str, str]]
    questions: list[str]
    score: Callable[[list[list[str]]], Row]


def obliqa_corpus(folder: Path) -> Corpus:
    """ObliQA's passages and its dev questions with gold passages, scored as `evals.obliqa.evaluate` does."""
    from evals.obliqa import embed_text, load_corpus, questions_of  # heavy imports: not in the child processes

    passages, _ = load_corpus(folder)
    questions, gold = questions_of(folder, "dev")
    golds = [gold[q["QuestionID"]] for q in questions]

    def score(ranked: list[list[str]]) -> Row:
        pairs = list(zip(ranked, golds, strict=True))
        return {
            "recall@10": sum(recall_at(r, g, 10) for r, g in pairs) / len(pairs),
            "map@10": sum(average_precision_at(r, g, 10) for r, g in pairs) / len(pairs),
        }

    return Corpus("ObliQA dev", [(p["ID"], embed_text(p)) for p in passages], [q["Question"] for q in questions], score)


def ensure_bundled(data_dir: Path) -> Path:
    """The catalog of corpus/ ingested by the project's own CLI (hashing embedder), made if missing."""
    catalog = data_dir / "catalog.sqlite3"
    if not catalog.exists():
        env = os.environ | {"REGASSIST_DATA_DIR": str(data_dir), "REGASSIST_EMBED_BACKEND": "hashing"}
        cli = Path(sys.executable).parent / "regassist"
        print(f"ingesting {ROOT / 'corpus'} into {data_dir} (hashing embedder)", file=sys.stderr, flush=True)
        subprocess.run([str(cli), "ingest", str(ROOT / "corpus")], env=env, check=True)
    return catalog


def bundled_corpus(data_dir: Path) -> Corpus:
    """The bundled catalog's chunks (as the lexical index reads them) and the bundled dev part's answerable
    questions, scored by page hit@10 and @5."""
    db = sqlite3.connect(f"file:{ensure_bundled(data_dir)}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT c.chunk_id, c.embed_text, d.file, c.page_start, c.page_end FROM chunks c "
        "JOIN documents d USING(document_id) ORDER BY c.document_id, c.ordinal"
    ).fetchall()
    db.close()
    pages = {str(cid): {(str(f), p) for p in range(int(a), int(b) + 1)} for cid, _, f, a, b in rows}
    questions = [q for q in load_questions(resolve_set("bundled-dev")) if q.answerable]
    golds = [{(g.file, g.page) for g in q.evidence} for q in questions]

    def score(ranked: list[list[str]]) -> Row:
        out: Row = {}
        for k in (10, 5):
            hits = [float(any(pages[c] & g for c in r[:k])) for r, g in zip(ranked, golds, strict=True)]
            out[f"page_hit@{k}"] = sum(hits) / len(hits)
        return out

    return Corpus("bundled dev", [(str(r[0]), str(r[1])) for r in rows], [q.question for q in questions], score)


# --- design (a): bm25s --------------------------------------------------------------------------
def bm25_search(folder: Path, items: Iterable[tuple[str, str]]) -> Search:
    """Build the project's index, load it as another process would, and search it for the top 10."""
    LexicalIndex(folder).build(items, generation=1)
    index = LexicalIndex(folder)
    index.load()
    return lambda text: [cid for cid, _ in index.query(text, 10)]


# --- design (b): PostgreSQL full-text search ----------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (as tests/conftest.py starts one), stopped on exit."""
    folder = Path(tempfile.mkdtemp(prefix="lexbench-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chmod(folder, 0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    options = " ".join([f"-p {port} -h 127.0.0.1 -k {folder}"] + [f"-c {k}={v}" for k, v in PG_SETTINGS.items()])
    try:
        subprocess.run(
            [*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o", options, "start"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def quote(lexeme: str) -> str:
    """A lexeme quoted for tsvector and tsquery input: quotes and backslashes doubled."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(tokens: list[str]) -> str:
    """The tokens, in order, as tsvector input with 1-based positions (PostgreSQL caps them as to_tsvector does)."""
    positions: dict[str, list[str]] = {}
    for i, tok in enumerate(tokens, start=1):
        positions.setdefault(tok, []).append(str(i))
    return " ".join(f"{quote(t)}:{','.join(ps)}" for t, ps in positions.items())


def or_query(tokens: list[str]) -> str:
    """The distinct tokens, each quoted, ORed: input for `::tsquery` and for `to_tsquery`."""
    return " | ".join(quote(t) for t in dict.fromkeys(tokens))


@dataclass(frozen=True)
class Builder:
    """How the project's tokens reach PostgreSQL: text made in Python, and the SQL that reads it."""

    name: str
    source: Callable[[list[str]], str]
    vector_sql: str  # of the column u.src
    query_sql: str  # of the parameter


BUILDERS = (
    Builder("exact", tsvector_literal, "u.src::tsvector", "%s::tsquery"),
    Builder("simple", " ".join, "to_tsvector('simple', u.src)", "to_tsquery('simple', %s)"),
)


def quoting_check(conn: Any) -> Row:
    """Round-trip awkward tokens and the project's reference tokens; fail unless "exact" keeps each whole."""
    tokens = [*TRICKY, *tokenize("21 CFR 820.70(i), ICH E6(R3) section 3.10.1.2 and Part11")]
    lexemes = conn.execute("SELECT tsvector_to_array(%s::tsvector)", (tsvector_literal(tokens),)).fetchone()[0]
    matched = [
        bool(conn.execute("SELECT %s::tsvector @@ %s::tsquery", (tsvector_literal([t]), or_query([t]))).fetchone()[0])
        for t in tokens
    ]
    if sorted(lexemes) != sorted(set(tokens)) or not all(matched):
        raise SystemExit(f"tsvector/tsquery quoting is wrong: {lexemes} {matched}")
    simple_vec = conn.execute("SELECT to_tsvector('simple', %s)::text", (" ".join(tokens),)).fetchone()[0]
    simple_query = conn.execute("SELECT to_tsquery('simple', %s)::text", (or_query(tokens),)).fetchone()[0]
    return {
        "tokens": tokens,
        "exact_lexemes_equal_tokens": True,
        "simple_vector": simple_vec,
        "simple_query": simple_query,
    }


def fill_table(conn: Any, table: str, builder: Builder, items: Iterable[tuple[str, str]], budget_s: float) -> Row:
    """Tokenise and insert rows, then build the GIN index; stop inserting once past the budget."""
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, tsv tsvector NOT NULL)")
    insert = f"INSERT INTO {table} SELECT u.id, {builder.vector_sql} FROM unnest(%s::text[], %s::text[]) AS u(id, src)"
    rows, complete = 0, True
    t0 = time.perf_counter()
    ids: list[str] = []
    srcs: list[str] = []
    for cid, text in items:
        ids.append(cid)
        srcs.append(builder.source(tokenize(text)))
        if len(ids) == BATCH:
            conn.execute(insert, (ids, srcs))
            rows += len(ids)
            ids, srcs = [], []
            if time.perf_counter() - t0 > budget_s:
                complete = False
                break
    if ids:
        conn.execute(insert, (ids, srcs))
        rows += len(ids)
    t1 = time.perf_counter()
    conn.execute(f"CREATE INDEX {table}_tsv ON {table} USING gin (tsv)")
    t2 = time.perf_counter()
    conn.execute(f"ANALYZE {table}")
    size = conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0]
    return {"rows": rows, "complete": complete, "insert_s": t1 - t0, "gin_s": t2 - t1, "disk_mb": size / 1e6}


def pg_search(conn: Any, table: str, builder: Builder, rank: str, norm: int) -> Search:
    """The top 10 ids for the OR of a text's tokens, by a ranking function and normalisation."""
    q = builder.query_sql
    sql = f"SELECT id FROM {table} WHERE tsv @@ {q} ORDER BY {rank}(tsv, {q}, {norm}) DESC, id LIMIT 10"

    def search(text: str) -> list[str]:
        tokens = tokenize(text)
        if not tokens:
            return []
        query = or_query(tokens)
        return [r[0] for r in conn.execute(sql, (query, query)).fetchall()]

    return search


# --- quality -------------------------------------------------------------------------------------
def quality(conn: Any, corpora: list[Corpus], work: Path, budget_s: float) -> list[Row]:
    """Every system's scores and latencies on every corpus."""
    rows: list[Row] = []
    for n, corpus in enumerate(corpora):
        print(f"{corpus.name}: {len(corpus.items):,} chunks, {len(corpus.questions):,} questions", file=sys.stderr)
        systems: list[tuple[str, Search]] = [("bm25s", bm25_search(work / f"lexical-{n}", corpus.items))]
        for b in BUILDERS:
            table = f"q{n}_{b.name}"
            fill_table(conn, table, b, corpus.items, budget_s)
            systems += [
                (f"pg {b.name} {r} {norm}", pg_search(conn, table, b, r, norm)) for r in RANKS for norm in NORMS
            ]
        for system, search in systems:
            ranked, ms = timed(search, corpus.questions)
            rows.append({"corpus": corpus.name, "system": system, **corpus.score(ranked), **latency(ms)})
            print(f"  {system}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def best_variant(rows: list[Row]) -> tuple[str, str, int]:
    """The PostgreSQL variant with the best ObliQA dev Recall@10 (then MAP@10)."""
    pg = [r for r in rows if r["corpus"] == "ObliQA dev" and r["system"].startswith("pg ")]
    best = max(pg, key=lambda r: (r["recall@10"], r["map@10"]))
    _, builder, rank, norm = best["system"].split()
    return builder, rank, int(norm)


# --- scale ---------------------------------------------------------------------------------------
_SENTENCE = re.compile(r"(?<=[.;:!?])\s+")


def synthetic_db(path: Path, n: int, texts: list[str], seed: int = 7) -> None:
    """N chunks sampled with replacement from `texts` and perturbed, in a SQLite table as a catalog holds them."""
    rng = random.Random(seed)
    split = [_SENTENCE.split(t) for t in texts]
    pool = [s for ss in split for s in ss]
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE chunks (chunk_id TEXT PRIMARY KEY, embed_text TEXT NOT NULL)")
    batch: list[tuple[str, str]] = []
    for i in range(n):
        sentences = list(rng.choice(split))
        if len(sentences) > 1:
            a, b = rng.sample(range(len(sentences)), 2)
            sentences[a], sentences[b] = sentences[b], sentences[a]
        text = " ".join([*sentences, rng.choice(pool), f"ref{i:07d}"])
        batch.append((f"syn{i:07d}", text))
        if len(batch) == 10_000:
            db.executemany("INSERT INTO chunks VALUES (?, ?)", batch)
            batch = []
    db.executemany("INSERT INTO chunks VALUES (?, ?)", batch)
    db.commit()
    db.close()


def catalog_items(path: Path) -> Iterator[tuple[str, str]]:
    """(chunk id, text) read from a synthetic catalog, in order, as `Catalog.iter_chunk_texts` streams them."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield from ((str(a), str(b)) for a, b in db.execute("SELECT chunk_id, embed_text FROM chunks ORDER BY rowid"))
    finally:
        db.close()


def child_build(db: Path, folder: Path) -> Row:
    """In a child process: build the snapshot from the catalog; its time and this process's memory."""
    before = proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    LexicalIndex(folder).build(catalog_items(db), generation=1)
    return {"build_s": time.perf_counter() - t0, "rss_before_mb": before, "peak_mb": proc_status_mb("VmHWM")}


def child_load(folder: Path, questions: Path) -> Row:
    """In a child process: load the snapshot as an API process does, then query it."""
    before = proc_status_mb("VmRSS")
    t0 = time.perf_counter()
    index = LexicalIndex(folder)
    index.load()
    load_s = time.perf_counter() - t0
    loaded = proc_status_mb("VmRSS")
    _, ms = timed(lambda t: [c for c, _ in index.query(t, 10)], json.loads(questions.read_text()))
    return {"load_s": load_s, "rss_before_mb": before, "rss_loaded_mb": loaded, **latency(ms)}


def run_child(args: list[str], timeout: float) -> Row | None:
    """Run this script in a child mode; its JSON result, or None if it ran past the timeout."""
    try:
        res = subprocess.run(
            [sys.executable, __file__, *args], capture_output=True, text=True, check=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None
    out: Row = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def bm25_scale(db: Path, n: int, work: Path, questions: Path, budget_s: float, prev: Row | None) -> Row:
    """Design (a) at N chunks: the build in one child, the load and queries in another."""
    folder = work / f"lexical-{n}"
    row: Row = {"design": "(a) bm25s snapshot", "chunks": n}
    built = run_child(["--child-build", str(db), str(folder)], budget_s)
    if built is None:
        row["build_timed_out_after_s"] = budget_s
        if prev is not None and "build_s" in prev:
            row["build_s_extrapolated"] = prev["build_s"] * n / prev["chunks"]
        return row
    row |= built
    row["disk_mb"] = folder_mb(folder)
    row |= run_child(["--child-load", str(folder), str(questions)], budget_s) or {"load_timed_out_after_s": budget_s}
    shutil.rmtree(folder, ignore_errors=True)
    return row


def pg_scale(conn: Any, db: Path, n: int, variant: tuple[str, str, int], questions: list[str], budget_s: float) -> Row:
    """Design (b) at N chunks: insert with tsvectors, build the GIN index, query."""
    builder = next(b for b in BUILDERS if b.name == variant[0])
    table = f"scale_{n}"
    row: Row = {"design": f"(b) PostgreSQL FTS, {' '.join(map(str, variant))}", "chunks": n}
    row |= fill_table(conn, table, builder, catalog_items(db), budget_s)
    if not row["complete"]:
        row["insert_s_extrapolated"] = row["insert_s"] * n / row["rows"]
        row["gin_s_extrapolated"] = row["gin_s"] * n / row["rows"]
    _, ms = timed(pg_search(conn, table, builder, variant[1], variant[2]), questions)
    row |= latency(ms)
    conn.execute(f"DROP TABLE {table}")
    return row


def scale(
    conn: Any,
    sizes: list[int],
    texts: list[str],
    questions: list[str],
    variant: tuple[str, str, int],
    work: Path,
    budget_s: float,
) -> list[Row]:
    """Both designs at each size, on the same synthetic catalog."""
    qpath = work / "questions.json"
    qpath.write_text(json.dumps(questions))
    rows: list[Row] = []
    prev: Row | None = None
    for n in sizes:
        db = work / f"synthetic-{n}.sqlite3"
        t0 = time.perf_counter()
        synthetic_db(db, n, texts)
        print(f"synthetic catalog of {n:,} chunks in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        prev = bm25_scale(db, n, work, qpath, budget_s, prev)
        print(f"  {prev}", file=sys.stderr, flush=True)
        rows.append(prev)
        rows.append(pg_scale(conn, db, n, variant, questions, budget_s))
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
        db.unlink()
    return rows


# --- report --------------------------------------------------------------------------------------
def print_quality(rows: list[Row], variant: tuple[str, str, int]) -> None:
    """One line per system: ObliQA dev and bundled dev side by side, with the difference from bm25s."""
    by = {(r["corpus"], r["system"]): r for r in rows}
    base_o, base_b = by["ObliQA dev", "bm25s"], by["bundled dev", "bm25s"]
    print(
        "| system | ObliQA R@10 | Δ R@10 | ObliQA MAP@10 | p50 / p95 ms | bundled page hit@10 | hit@5 | p50 / p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for system in dict.fromkeys(r["system"] for r in rows):
        o, b = by["ObliQA dev", system], by["bundled dev", system]
        mark = " (best on dev)" if system == "pg " + " ".join(map(str, variant)) else ""
        print(
            f"| {system}{mark} | {o['recall@10']:.4f} | {o['recall@10'] - base_o['recall@10']:+.4f} | "
            f"{o['map@10']:.4f} | {o['p50_ms']:.1f} / {o['p95_ms']:.1f} | {b['page_hit@10']:.3f} "
            f"({b['page_hit@10'] - base_b['page_hit@10']:+.3f}) | {b['page_hit@5']:.3f} | "
            f"{b['p50_ms']:.1f} / {b['p95_ms']:.1f} |"
        )


def print_quoting(check: Row) -> None:
    """What each way of handing the tokens to PostgreSQL makes of them."""
    print("Quoting check: tokens " + " ".join(check["tokens"]))
    print("- exact (tsvector / tsquery literals): every token is one lexeme and matches itself")
    print(f"- simple, to_tsvector('simple', tokens): {check['simple_vector']}")
    print(f"- simple, to_tsquery('simple', quoted tokens ORed): {check['simple_query']}")


def cell(row: Row, key: str, fmt: str) -> str:
    """A measured value, or its extrapolation labelled as one, or a dash."""
    if key in row:
        return format(row[key], fmt)
    if f"{key}_extrapolated" in row:
        return format(row[f"{key}_extrapolated"], fmt) + " (extrapolated)"
    return "–"


def print_scale(rows: list[Row]) -> None:
    """Rebuild cost and query latency per design and size."""
    print(
        "| design | chunks | per-process rebuild (tokenise + index + save) s | load s | build peak RSS MB |"
        " RSS after load MB | disk MB | one-off insert s | GIN index s | query p50 / p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        pg = r["design"].startswith("(b)")
        rows_note = "" if r.get("complete", True) else f" ({r['rows']:,} rows loaded before the budget)"
        lat = f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f}" if "p50_ms" in r else "–"
        print(
            f"| {r['design']} | {r['chunks']:,}{rows_note} | {'none (shared)' if pg else cell(r, 'build_s', '.1f')} | "
            f"{'none' if pg else cell(r, 'load_s', '.2f')} | {'–' if pg else cell(r, 'peak_mb', '.0f')} | "
            f"{'–' if pg else cell(r, 'rss_loaded_mb', '.0f')} | {cell(r, 'disk_mb', '.0f')} | "
            f"{cell(r, 'insert_s', '.1f') if pg else '–'} | {cell(r, 'gin_s', '.1f') if pg else '–'} | {lat} |"
        )


# --- main ----------------------------------------------------------------------------------------
def scale_questions(corpora: list[Corpus], n: int, seed: int = 11) -> list[str]:
    """A fixed sample of questions from all the sets, for latency at scale."""
    pool = [q for c in corpora for q in c.questions]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def parse_args() -> argparse.Namespace:
    """Command-line options (and the hidden child modes)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000], help="synthetic corpus sizes")
    ap.add_argument("--skip-quality", action="store_true", help=f"only the scale runs, with {DEFAULT_VARIANT}")
    ap.add_argument("--out", type=Path, default=Path("/tmp/lexical_bench.json"), help="write the results here")
    ap.add_argument("--obliqa", type=Path, default=OBLIQA, help="the ObliQA dataset folder")
    ap.add_argument("--data", type=Path, default=Path("/tmp/lexbench-data"), help="bundled catalog (made if absent)")
    ap.add_argument("--scale-queries", type=int, default=100, help="questions timed at each size")
    ap.add_argument("--budget-s", type=float, default=1500, help="stop a design at a size after this; extrapolate")
    ap.add_argument("--child-build", nargs=2, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-load", nargs=2, type=Path, help=argparse.SUPPRESS)
    return ap.parse_args()


def main() -> None:
    """Quality, then scale; Markdown tables on stdout, everything as JSON in --out."""
    args = parse_args()
    if args.child_build:
        print(json.dumps(child_build(*args.child_build)))
        return
    if args.child_load:
        print(json.dumps(child_load(*args.child_load)))
        return
    import psycopg

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the PostgreSQL server is stopped on a kill too
    t_start = time.perf_counter()
    corpora = [obliqa_corpus(args.obliqa), bundled_corpus(args.data)]
    result: Row = {"pg_settings": PG_SETTINGS, "sizes": args.sizes}
    with tempfile.TemporaryDirectory(prefix="lexbench-") as tmp, postgres_server() as url:
        conn = psycopg.connect(url, autocommit=True)
        result["quoting_check"] = quoting_check(conn)
        variant = DEFAULT_VARIANT
        if not args.skip_quality:
            result["quality"] = quality(conn, corpora, Path(tmp), args.budget_s)
            variant = best_variant(result["quality"])
        result["variant_for_scale"] = variant
        texts = [t for c in corpora for _, t in c.items]
        questions = scale_questions(corpora, args.scale_queries)
        result["scale"] = scale(conn, args.sizes, texts, questions, variant, Path(tmp), args.budget_s)
        conn.close()
    result["wall_s"] = time.perf_counter() - t_start
    print_quoting(result["quoting_check"])
    if "quality" in result:
        print(f"\nQuality (PostgreSQL variant for the scale runs chosen on ObliQA dev Recall@10: {variant})\n")
        print_quality(result["quality"], variant)
    print("\nRebuild and query cost at scale\n")
    print_scale(result["scale"])
    print(f"\ntotal wall time {result['wall_s']:.0f} s; JSON in {args.out}")
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
