"""`regassist eval ...`: run a question set, compare runs, validate the hallucination check, score ObliQA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ingest.errors import RegassistError
from ingest.model_files import DEFAULT_MODEL

eval_app = typer.Typer(help="Evaluate regassist: accuracy, faithfulness, abstention, retrieval.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
DEFAULT_THRESHOLDS = Path(__file__).resolve().parent / "thresholds.json"


def _index(data_dir: Path | None):  # type: ignore[no-untyped-def]
    from ingest.pipeline import Index
    from ingest.settings import IngestSettings

    s = IngestSettings()
    return Index(s.model_copy(update={"data_dir": data_dir}) if data_dir else s)


def _fmt(m: dict[str, float]) -> str:
    return f"{m['value']:.3f}  [{m['low']:.3f}, {m['high']:.3f}]"


@eval_app.command("fit-abstention")
def fit_abstention_cmd(
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Model file (default assistant/abstention.json)")
    ] = None,
) -> None:
    """Refit the extractive backend's abstention model on the tuning sets (never on bundled2-test)."""
    from assistant import decide
    from evals.fit_abstention import main

    main(out_file or decide.MODEL_FILE)


@eval_app.command("fit-picker")
def fit_picker_cmd() -> None:
    """Learn the extractive picker's weights on the tuning sets; keep them only if they beat the hand-set ones."""
    from evals.fit_picker import main

    main()


@eval_app.command("run")
def run_cmd(
    question_set: Annotated[str, typer.Argument(help="A .jsonl file, or a set name in evals/sets (bundled-test)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for results.json and report.html")],
    thresholds: Annotated[Path | None, typer.Option(help="Thresholds file; exit 1 when a metric misses it")] = None,
    claims: Annotated[bool, typer.Option(help="Also validate the hallucination check on the claim pairs")] = True,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Index folder (default .regassist)")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples")] = 1000,
    pin: Annotated[
        bool,
        typer.Option(
            "--pinned/--live",
            help="Search only the bundled corpus's documents, at the versions its files hold (the corpus the sets "
            "were written on), with its own BM25 statistics; --live searches everything the index holds",
        ),
    ] = True,
    corpus_dir: Annotated[Path, typer.Option("--corpus", help="The bundled corpus folder to pin")] = Path("corpus"),
) -> None:
    """Answer every question of a set, score the answers and write JSON and an HTML report."""
    from rich.progress import Progress

    from assistant.service import Assistant
    from evals.evaluate import evaluate
    from evals.questions import resolve_set
    from evals.runner import pinned_corpus

    try:
        path = resolve_set(question_set)
        assistant = Assistant(_index(data_dir))
        pinned = pinned_corpus(corpus_dir, assistant.index.catalog) if pin else None
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(f"{path.name}", total=None)
            result = evaluate(
                assistant,
                path,
                out_dir,
                thresholds,
                claims,
                resamples,
                lambda i, n: bar.update(task, completed=i, total=n),
                pinned,
            )
    except RegassistError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    run, bounds, failures, missed = result.run, result.bounds, result.failures, result.missed
    s = run.summary
    t = Table(title=f"{path.name}: {s['n']} questions, backend {run.versions['backend']}")
    t.add_column("metric")
    t.add_column("value  [95% interval]")
    t.add_column("threshold")
    for name, m in s["metrics"].items():
        if name.startswith(("document_", "chunk_")) and not name.endswith(("hit@5", "map@10")):
            continue
        bound = (bounds or {}).get(name, {})
        t.add_row(name, _fmt(m), " ".join(f"{k} {v}" for k, v in bound.items()))
    out.print(t)
    cm = s["abstention_confusion"]
    out.print(
        f"abstention (positive = should refuse): TP {cm['tp']} FP {cm['fp']} FN {cm['fn']} TN {cm['tn']}, "
        f"MCC {cm['mcc']:.3f}; false premises {s['false_premise']}; latency p50 {s['latency_ms']['p50']:.0f} ms"
        f" p95 {s['latency_ms']['p95']:.0f} ms"
    )
    if "claim_check" in run.extra:
        cc = run.extra["claim_check"]["test"]["confusion"]
        out.print(
            f"hallucination check on {run.extra['claim_check']['test']['n']} held-out claim pairs: "
            f"MCC {cc['mcc']:.3f}, precision {cc['precision']:.3f}, recall {cc['recall']:.3f} "
            f"(TP {cc['tp']} FP {cc['fp']} FN {cc['fn']} TN {cc['tn']})"
        )
    for part in ("non_llm", "judged"):
        for r in run.extra["ragas"].get(part, []):
            mean = "n/a" if r["mean"] is None else f"{r['mean']:.3f}"
            out.print(
                f"ragas {r['metric']}: {mean} (judge failures {r['failure_rate']:.0%})"
                if part == "judged"
                else f"ragas {r['metric']}: {mean}"
            )
    out.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'report.html'}")
    for f in missed:
        out.print(f"[yellow]target missed (not gating):[/yellow] {f}")
    if failures:
        for f in failures:
            err.print(f"[red]threshold:[/red] {f}")
        raise typer.Exit(1)


@eval_app.command("compare")
def compare_cmd(
    a: Annotated[Path, typer.Argument(help="results.json (or its folder) of the baseline run")],
    b: Annotated[Path, typer.Argument(help="results.json (or its folder) of the new run")],
) -> None:
    """Show what changed between two runs; exit 1 when a metric regressed beyond the baseline's interval."""
    from evals.gates import compare

    def load(p: Path) -> dict:  # type: ignore[type-arg]
        p = p / "results.json" if p.is_dir() else p
        if not p.exists():
            err.print(f"[red]error:[/red] {p}: no such results file")
            raise typer.Exit(2)
        return json.loads(p.read_text())  # type: ignore[no-any-return]

    rows, changed = compare(load(a), load(b))
    for key, (x, y) in changed.items():
        out.print(f"changed {key}: {x} -> {y}")
    t = Table(title="A -> B")
    for col in ("metric", "A [interval]", "B", "delta", "verdict"):
        t.add_column(col)
    for r in rows:
        style = "red" if r["verdict"] == "REGRESSION" else ("green" if r["verdict"] == "improved" else "")
        t.add_row(
            r["metric"],
            f"{r['a']:.3f} [{r['a_low']:.3f}, {r['a_high']:.3f}]",
            f"{r['b']:.3f}",
            f"{r['delta']:+.3f}",
            f"[{style}]{r['verdict']}[/{style}]" if style else r["verdict"],
        )
    out.print(t)
    if any(r["verdict"] == "REGRESSION" for r in rows):
        raise typer.Exit(1)


@eval_app.command("claims")
def claims_cmd(
    rebuild: Annotated[bool, typer.Option(help="Regenerate the labelled pairs from the index first")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Validate the hallucination check on labelled (claim, passage) pairs: threshold on dev, MCC on test."""
    from evals.claims import (
        PAIRS_DEV,
        PAIRS_NUMBER_WORDS,
        PAIRS_TEST,
        build_number_word_pairs,
        build_pairs,
        load_pairs,
        split,
        validate,
        write_pairs,
    )

    index = _index(data_dir)
    if rebuild:
        dev, test = split(build_pairs(index.catalog))
        write_pairs(dev, PAIRS_DEV)
        write_pairs(test, PAIRS_TEST)
        write_pairs(build_number_word_pairs(index.catalog), PAIRS_NUMBER_WORDS)
    res = validate(index.embedder.encode, load_pairs(PAIRS_DEV), load_pairs(PAIRS_TEST), load_pairs(PAIRS_NUMBER_WORDS))
    t = Table(title=f"hallucination check, threshold {res['threshold']} chosen on dev (positive = unsupported)")
    for col in ("part", "pairs", "TP", "FP", "FN", "TN", "precision", "recall", "MCC"):
        t.add_column(col)
    for part in ("dev", "test", "number_words"):
        c = res[part]["confusion"]
        t.add_row(
            part,
            str(res[part]["n"]),
            *(f"{c[k]:.0f}" for k in ("tp", "fp", "fn", "tn")),
            f"{c['precision']:.3f}",
            f"{c['recall']:.3f}",
            f"{c['mcc']:.3f}",
        )
    out.print(t)
    out.print(
        "test, right per perturbation: "
        + ", ".join(f"{k} {v['right']}/{v['n']}" for k, v in sorted(res["test_by_perturbation"].items()))
    )


@eval_app.command("obliqa")
def obliqa_cmd(
    dataset: Annotated[Path, typer.Argument(help="The ObliQA folder (e.g. ../shared/benchmarks/obliqa)")],
    split: Annotated[
        str, typer.Option(help="dev or dev-holdout (tuning; the holdout is unseen by fine-tuning) or test (reporting)")
    ] = "test",
    work: Annotated[Path, typer.Option(help="Where its own index is kept")] = Path(".regassist-obliqa"),
    model: Annotated[
        str, typer.Option(help="Embedding model: all-MiniLM-L6-v2 or a folder from `eval obliqa-finetune`")
    ] = DEFAULT_MODEL,
    alpha: Annotated[
        float | None, typer.Option(help="Dense weight of the convex hybrid (default: REGASSIST_FUSION_ALPHA)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Score only the first N questions")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the table as JSON here")] = None,
) -> None:
    """Index ObliQA's 40 documents into their own collection and score BM25, dense and hybrid retrieval."""
    from evals.obliqa import PUBLISHED, ObliQAMissing, evaluate

    try:
        rows = evaluate(dataset, split, work, model=model, alpha=alpha, limit=limit, progress=lambda m: err.print(m))
    except ObliQAMissing as exc:
        err.print(f"skipped: {exc}")
        raise typer.Exit(0) from exc
    t = Table(title=f"ObliQA {split}: retrieval (passage level)")
    for col in ("system", "Recall@10", "MAP@10", "questions", "p95 ms", "model"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["system"], f"{r['recall@10']:.4f}", f"{r['map@10']:.4f}", str(r["n"]), f"{r['p95_ms']:.1f}", r["model"]
        )
    if split == "test":
        for name, (rec, mp) in PUBLISHED.items():
            t.add_row(f"published: {name}", f"{rec:.4f}", f"{mp:.4f}", "", "", "")
    out.print(t)
    if out_file:
        out_file.write_text(json.dumps(rows, indent=1))


@eval_app.command("obliqa-finetune")
def obliqa_finetune_cmd(
    dataset: Annotated[Path, typer.Argument(help="The ObliQA folder (e.g. ../shared/benchmarks/obliqa)")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the fine-tuned model")] = Path(
        ".regassist-obliqa/minilm-obliqa"
    ),
    work: Annotated[Path, typer.Option(help="Where ObliQA's BM25 index is kept")] = Path(".regassist-obliqa"),
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    hard_negatives: Annotated[int, typer.Option(min=0, help="BM25-mined negatives per pair (slower by 2-3x)")] = 0,
    seed: Annotated[int, typer.Option()] = 13,
) -> None:
    """Fine-tune all-MiniLM-L6-v2 on ObliQA dev pairs (not the held-out fifth) on the CPU, with a fixed seed."""
    from evals.finetune import finetune
    from evals.obliqa import ObliQAMissing

    try:
        info = finetune(
            dataset, out_dir, work, epochs=epochs, hard_negatives=hard_negatives, seed=seed, progress=err.print
        )
    except ObliQAMissing as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    out.print(f"saved to {out_dir}: {json.dumps(info)}")
    out.print(f"score it with: regassist eval obliqa {dataset} --split dev-holdout --model {out_dir}")


@eval_app.command("followups")
def followups_cmd(
    part: Annotated[str, typer.Option("--part", help="dev (tuning), test (held out: report once) or all")] = "dev",
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Index folder")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write per-turn rows and metrics here")] = None,
) -> None:
    """Score the follow-up chains: each later turn in its conversation, and alone for comparison."""
    from assistant.service import Assistant
    from evals import followups

    if part not in ("dev", "test", "all"):
        raise typer.BadParameter("dev, test or all", param_hint="--part")
    try:
        chains = followups.load_chains(part=None if part == "all" else part)
        result = followups.run(Assistant(_index(data_dir)), chains)
    except RegassistError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    m = result["metrics"]
    table = Table(title=f"follow-up chains ({part}): {len(chains)} chains, {m['follow_ups']} follow-ups")
    table.add_column("follow-up turns")
    table.add_column("in its conversation", justify="right")
    table.add_column("asked alone", justify="right")
    for key, label in (
        ("right_documents", "answered from a gold document"),
        ("page_hit@5", "gold page in the top 5 passages"),
        ("key_facts", "key facts in the answer"),
        ("answered", "answered (not refused)"),
    ):
        table.add_row(label, f"{m['in_context'][key]:.3f}", f"{m['alone'][key]:.3f}")
    out.print(table)
    out.print(
        f"follow-ups read as follow-ups {m['follow_ups_detected']:.3f} · moves to another regulator noticed "
        f"{m['switch_noticed']:.3f} of {m['switches']} · move notes on turns that stayed {m['false_move_notes']:.3f} · "
        f"standalone later questions read as follow-ups {m['fresh_read_as_follow_up']:.3f} of {m['fresh']}"
    )
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
