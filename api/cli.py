"""The `regassist` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ingest.errors import RegassistError
from ingest.pipeline import FileResult, Index
from ingest.settings import IngestSettings

app = typer.Typer(help="regassist: cited answers from regulatory guidance.", no_args_is_help=True)
docs_app = typer.Typer(help="List and remove indexed documents.", invoke_without_command=True)
app.add_typer(docs_app, name="docs")
out = Console()
err = Console(stderr=True)


def _settings(data_dir: Path | None) -> IngestSettings:
    s = IngestSettings()
    return s.model_copy(update={"data_dir": data_dir}) if data_dir else s


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Index folder (default .regassist, or REGASSIST_DATA_DIR)")]


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

    settings = _settings(data_dir)
    missing = [p for p in paths if not p.exists()]
    if missing:
        err.print(f"[red]error:[/red] no such file or folder: {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    try:
        if rebuild:
            Index.wipe(settings)
        index = Index(settings)
        from ingest.pipeline import expand_paths

        bar = tqdm(total=len(expand_paths(paths)), unit="file", disable=not sys.stderr.isatty(), file=sys.stderr)

        def progress(r: FileResult) -> None:
            bar.set_postfix_str(r.file[:40])
            bar.update(1)
            if r.outcome == "failed":
                bar.write(f"failed: {r.error}")

        report = index.ingest(paths, progress=progress, prune=prune)
        bar.close()
    except RegassistError as exc:
        _fail(exc)
        return
    table = Table(title="Ingest summary")
    for col in ("added", "updated", "unchanged", "removed", "failed", "chunks", "pages", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        *[str(report.count(o)) for o in ("added", "updated", "unchanged", "removed", "failed")],
        str(report.chunks), str(report.pages), f"{report.seconds:.1f}",
    )
    out.print(table)
    for r in report.results:
        if r.outcome == "failed":
            out.print(f"[red]failed[/red] {r.error}")
    index.close()
    if report.count("failed") and not (report.count("added") + report.count("updated") + report.count("unchanged")):
        raise typer.Exit(1)


@docs_app.callback()
def docs(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List indexed documents."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = data_dir
        return
    try:
        index = Index(_settings(data_dir))
    except RegassistError as exc:
        _fail(exc)
        return
    rows = index.catalog.documents()
    table = Table(title=f"{len(rows)} documents in {index.data_dir}")
    for col in ("id", "title", "body", "type", "status", "year", "pages", "chunks", "file"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["document_id"][:12], r["title"], r["issuing_body"], r["doc_type"], r["status"],
            str(r["year"] or ""), str(r["pages"]), str(r["chunks"]), r["file"],
        )
    out.print(table)
    index.close()


@docs_app.command("remove")
def docs_remove(
    ctx: typer.Context,
    document_id: Annotated[str, typer.Argument(help="Document id (or a unique prefix) from `regassist docs`")],
    data_dir: DataDir = None,
) -> None:
    """Remove a document and its chunks from every index."""
    try:
        index = Index(_settings(data_dir or ctx.obj))
        n = index.remove(document_id)
    except RegassistError as exc:
        _fail(exc)
        return
    out.print(f"removed {document_id}: {n} chunks")
    index.close()


def main() -> None:
    """Entry point."""
    app()


if __name__ == "__main__":
    main()
