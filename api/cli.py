"""The `regassist` command line.

Each command imports what it needs when it runs: `--help`, `docs` and `audit` load no model, no Chroma
and no LangChain, and `ask` loads what answering needs (ONNX Runtime, Chroma, BM25), never torch.
`tests/test_api_cli_imports.py` keeps it so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from api.desk_cli import audit_app, serve, users_app, worker
from evals.cli import eval_app
from ingest.errors import RegassistError

if TYPE_CHECKING:
    from assistant.types import Answer
    from ingest.settings import IngestSettings

app = typer.Typer(
    help="regassist: cited answers from regulatory guidance.", no_args_is_help=True, pretty_exceptions_enable=False
)
docs_app = typer.Typer(help="List and remove indexed documents.", invoke_without_command=True)
app.add_typer(docs_app, name="docs")
app.add_typer(eval_app, name="eval")
app.add_typer(audit_app, name="audit")
app.add_typer(users_app, name="users")
app.command()(serve)
app.command()(worker)
out = Console()
err = Console(stderr=True)


def _settings(data_dir: Path | None) -> IngestSettings:
    from ingest.settings import IngestSettings

    s = IngestSettings()
    return s.model_copy(update={"data_dir": data_dir}) if data_dir else s


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Index folder (default .regassist, or REGASSIST_DATA_DIR)")
]


def _fail(exc: RegassistError) -> None:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest")],
    data_dir: DataDir = None,
    rebuild: Annotated[bool, typer.Option(help="Delete the index and build it again")] = False,
    prune: Annotated[bool, typer.Option(help="Remove indexed documents whose files are not among PATHS")] = False,
) -> None:
    """Ingest regulatory documents into the index."""
    from tqdm import tqdm

    from ingest.onnx_model import prepare
    from ingest.pipeline import FileResult, Index, expand_paths

    settings = _settings(data_dir)
    missing = [p for p in paths if not p.exists()]
    if missing:
        err.print(f"[red]error:[/red] no such file or folder: {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    try:
        prepare(settings.embed_backend, settings.embed_model, settings.embed_precision, settings.model_cache)
        if rebuild:
            Index.wipe(settings)
        index = Index(settings)
        total = len(expand_paths(paths, settings.data_dir))
        bar = tqdm(total=total, unit="file", disable=not sys.stderr.isatty(), file=sys.stderr)

        def progress(r: FileResult) -> None:
            bar.set_postfix_str(r.file[:40])
            bar.update(1)
            if r.outcome == "failed":
                bar.write(f"failed: {r.error}")

        report = index.ingest(paths, progress=progress, prune=prune)
        bar.close()
        # The extractive picker's sentence heads, embedded once now rather than at every question.
        from assistant.service import Assistant

        heads = tqdm(unit="sentence", desc="sentence heads", disable=not sys.stderr.isatty(), file=sys.stderr)

        def head_progress(done: int, total: int) -> None:
            heads.total = total
            heads.update(done - heads.n)

        warmed = Assistant(index).warm(head_progress)
        heads.close()
    except RegassistError as exc:
        _fail(exc)
        return
    table = Table(title="Ingest summary")
    for col in ("added", "updated", "unchanged", "removed", "failed", "chunks", "pages", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        *[str(report.count(o)) for o in ("added", "updated", "unchanged", "removed", "failed")],
        str(report.chunks),
        str(report.pages),
        f"{report.seconds:.1f}",
    )
    out.print(table)
    if warmed:
        out.print(f"embedded {warmed} new sentence heads for the extractive answers")
    if report.skipped:
        out.print("skipped: " + ", ".join(f"{len(v)} {k}" for k, v in sorted(report.skipped.items())))
    for r in report.results:
        if r.outcome == "failed":
            out.print(f"[red]failed[/red] {r.error}")
        for w in r.warnings:
            out.print(f"[yellow]warning[/yellow] {w}")
    index.close()
    if report.count("failed") and not (report.count("added") + report.count("updated") + report.count("unchanged")):
        raise typer.Exit(1)


_DOC_FIELDS = (
    "document_id",
    "title",
    "issuing_body",
    "jurisdiction",
    "doc_type",
    "status",
    "year",
    "pages",
    "chunks",
    "source",
    "file",
)


@docs_app.callback()
def docs(
    ctx: typer.Context,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Every document as a JSON list, whole ids included")] = False,
) -> None:
    """List indexed documents (a table on a terminal; one tab-separated line a document in a pipe)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = data_dir
        return
    # The catalog alone lists documents: no Chroma, no model, and for a SQLite file no SQLAlchemy (README
    # "Runtime"). A catalog not there yet is created, as before, so the command says there are none.
    from ingest.listing import documents_in_file

    settings = _settings(data_dir)
    location = settings.catalog_location
    found = documents_in_file(location) if isinstance(location, Path) else None
    if found is None:
        from ingest.catalog import Catalog

        catalog = Catalog(location)
        found = [dict(r) for r in catalog.documents()]
        catalog.close()
    rows = [{k: r[k] for k in _DOC_FIELDS} for r in found]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        return
    columns = ("id", "title", "body", "type", "status", "year", "pages", "chunks", "file")

    def cells(r: dict[str, Any]) -> list[str]:
        return [
            r["document_id"][:12],
            r["title"],
            r["issuing_body"],
            r["doc_type"],
            r["status"],
            str(r["year"] or ""),
            str(r["pages"]),
            str(r["chunks"]),
            r["file"],
        ]

    if not out.is_terminal:
        # In a pipe a table would wrap file names across lines (`regassist docs | grep Annex` found
        # nothing): one whole line a document, tab-separated, under a header line.
        sys.stdout.write("\t".join(columns) + "\n")
        for r in rows:
            sys.stdout.write("\t".join(c.replace("\t", " ").replace("\n", " ") for c in cells(r)) + "\n")
        return
    table = Table(title=f"{len(rows)} documents in {settings.data_dir}")
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*cells(r))
    out.print(table)


@docs_app.command("remove")
def docs_remove(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="Document id (or a unique prefix) from `regassist docs`")],
    data_dir: DataDir = None,
) -> None:
    """Remove a document and its chunks from every index."""
    from ingest.pipeline import Index

    try:
        index = Index(_settings(data_dir or ctx.obj))
        n = index.remove(document_id)
    except RegassistError as exc:
        _fail(exc)
        return
    out.print(f"removed {document_id}: {n} chunks")
    index.close()


def _print_answer(answer: Answer) -> None:
    from assistant.sentences import normalise

    if answer.abstained:
        out.print(f"[bold yellow]Not answered[/bold yellow] ({answer.abstain_reason})")
        out.print(answer.answer)
        return
    out.print(answer.answer)
    for w in answer.warnings:
        out.print(f"[yellow]note:[/yellow] {w}")
    out.print()
    for c in answer.citations:
        status = "" if c.status == "final" else f" [{c.status.upper()}]"
        out.print(f"[bold][{c.n}][/bold] {c.title}{status} — section {c.section or '-'}, page {c.page} ({c.file})")
        out.print(f"    “{normalise(c.quote)}”", style="dim")


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question")] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from", help=".txt (one per line) or .jsonl (id, question)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the output contract as JSON")] = False,
    body: Annotated[list[str] | None, typer.Option(help="Only documents of this issuing body (repeatable)")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only documents of this status (repeatable)")] = None,
    doc_type: Annotated[list[str] | None, typer.Option("--type", help="Only this document type (repeatable)")] = None,
    data_dir: DataDir = None,
) -> None:
    """Answer a question from the indexed documents, with citations, or say plainly that they do not."""
    import json

    from assistant.retrieval import Filters
    from assistant.service import Assistant
    from ingest.pipeline import Index

    if (question is None) == (from_file is None):
        err.print("[red]error:[/red] give a QUESTION or --from FILE (not both)")
        raise typer.Exit(2)
    filters = Filters(issuing_body=tuple(body or ()), status=tuple(status or ()), doc_type=tuple(doc_type or ()))
    try:
        assistant = Assistant(Index(_settings(data_dir)))
        if from_file is None:
            assert question is not None
            answer = assistant.ask(question, filters)
            if json_out:
                print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
            else:
                _print_answer(answer)
            return
        for qid, q in _read_questions(from_file):
            try:
                row = assistant.ask(q, filters).to_dict()
                row["id"] = qid
            except RegassistError as exc:
                row = {"id": qid, "question": q, "error": str(exc)}
            print(json.dumps(row, ensure_ascii=False), flush=True)
    except RegassistError as exc:
        _fail(exc)


def _read_questions(path: Path) -> list[tuple[str, str]]:
    import json

    if not path.exists():
        raise typer.BadParameter(f"{path}: no such file", param_hint="--from")
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".jsonl":
        out = []
        for i, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out.append((str(obj["id"]), str(obj["question"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise typer.BadParameter(
                    f"{path}:{i}: needs a JSON object with 'id' and 'question' ({exc})", param_hint="--from"
                ) from exc
        return out
    return [(str(i), q.strip()) for i, q in enumerate(lines, start=1) if q.strip()]


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
