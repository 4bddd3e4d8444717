"""`regassist serve`, `regassist audit …` and `regassist users …`: the review desk from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ingest.errors import RegassistError

audit_app = typer.Typer(help="Check and export the audit log.", no_args_is_help=True)
users_app = typer.Typer(
    help="Add users and issue tokens (the web UI's Users page does the same).", no_args_is_help=True
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Default: sqlite:///<data dir>/desk.sqlite3, or REGASSIST_DATABASE_URL"),
]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Index and desk folder (default .regassist)")]


def _api_settings(data_dir: Path | None, database_url: str | None = None):  # type: ignore[no-untyped-def]
    from api.settings import ApiSettings

    s = ApiSettings()
    update: dict[str, object] = {}
    if data_dir:
        update["data_dir"] = data_dir
    if database_url:
        update["database_url"] = database_url
    return s.model_copy(update=update)


def _database(data_dir: Path | None, database_url: str | None, create_key: bool = False):  # type: ignore[no-untyped-def]
    """The desk database with its audit key, migrated to the newest schema. Without a key, only a desk whose
    log is still empty opens (there is nothing to check yet); any other is an error naming the key file."""
    from sqlalchemy import func, select

    from api.db import Database, migrate
    from api.models import AuditEntry

    settings = _api_settings(data_dir, database_url)
    try:
        db = settings.database(create_key)
    except RegassistError as exc:
        db = Database(settings.db_url)
        migrate(db.engine)
        with db.session() as s:
            empty = not s.scalar(select(func.count()).select_from(AuditEntry))
        if not empty:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        return db
    migrate(db.engine)
    return db


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Serve the API, the review desk and the web interface on the index."""
    import uvicorn

    from api.app import create_app
    from api.desk import Desk
    from api.guard import guarded_protocol

    settings = _api_settings(data_dir, database_url)
    host = host or settings.host
    port = port or settings.port
    try:
        desk = Desk(settings)
        started = desk.start()
        # Load the embedding model now (making its ONNX file on the very first start), not at the first question.
        desk.index.embedder  # noqa: B018
    except RegassistError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    docs = len(desk.index.catalog.documents())
    url = f"http://{host}:{port}/"
    out.print(f"regassist: {docs} documents in {settings.data_dir}; reviews in {desk.db.engine.url.render_as_string()}")
    if started.corpus_job:
        out.print(f"The index is empty: ingesting {settings.corpus_dir} in the background (job {started.corpus_job}).")
    if started.admin_token:
        out.print(
            "[bold]First start: the admin token, shown this once (store it now; only its hash is kept):[/bold]\n"
            f"    {started.admin_token}"
        )
    elif started.admin_created:
        out.print("First start: the admin's token is the one in REGASSIST_ADMIN_TOKEN.")
    out.print(f"[bold]Sign in at {url}[/bold] with your token. API documentation: {url}docs")
    out.print(
        "Admins manage documents and users; to ask, add a staff, consultant or reviewer user on the Users page "
        "(or `regassist users add NAME ROLE`)."
    )
    sys.stdout.flush()
    protocol = guarded_protocol(settings.header_timeout_s)
    uvicorn.run(
        create_app(desk),
        host=host,
        port=port,
        log_level="warning",
        workers=1,
        http=protocol,
        timeout_keep_alive=settings.keep_alive_s,
        h11_max_incomplete_event_size=64 * 1024,  # request line and headers (h11; httptools caps them itself)
    )


def worker(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Run background jobs (ingest, removal, evaluation) from the desk's database until stopped.

    Any number of workers, on this machine or others, share one database: each takes the next job, and a
    job whose worker dies is taken again. They need the same index as the service: its catalog (a data
    folder on this machine, or PostgreSQL; README "Running on several machines") and its Chroma server
    (REGASSIST_CHROMA_URL). SIGTERM or Ctrl-C finishes the current job and stops.
    """
    import signal

    from api.desk import Desk
    from ingest.settings import IngestSettings

    settings = _api_settings(data_dir, database_url).model_copy(update={"run_jobs": False})
    if not IngestSettings().chroma_url:
        err.print(
            "[red]error:[/red] a worker beside the service needs a Chroma server: set REGASSIST_CHROMA_URL "
            "(`chroma run --path DIR`) for both. Two processes must not open one embedded Chroma folder; "
            "without a server, the service's own worker thread runs the jobs."
        )
        raise typer.Exit(2)
    try:
        desk = Desk(settings)
        desk.index.embedder  # noqa: B018  (load the model, and make its ONNX file, before taking work)
    except RegassistError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc

    def stop(_sig: int, _frame: object) -> None:
        out.print("regassist worker: stopping after the current job")
        desk.jobs.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    out.print(f"regassist worker {desk.jobs.name}: taking jobs from {desk.db.engine.url.render_as_string()}")
    sys.stdout.flush()
    desk.jobs.run_forever()
    desk.close()


@audit_app.command("verify")
def audit_verify(
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    checkpoint: Annotated[
        list[str] | None,
        typer.Option("--checkpoint", help="A checkpoint kept elsewhere (its JSON line, or a file of them); repeatable"),
    ] = None,
) -> None:
    """Recompute the audit log's MACs and check it against its checkpoints; exit 1 if anything was altered,
    removed or cut from the end, or a record was changed outside regassist."""
    import json

    from api import audit

    db = _database(data_dir, database_url)
    kept = audit.read_checkpoints(db.checkpoints) if db.checkpoints else []
    for c in checkpoint or []:
        path = Path(c)
        try:
            kept += audit.read_checkpoints(path) if path.is_file() else [json.loads(c) | {"line": "given"}]
        except json.JSONDecodeError:
            err.print(f"[red]error:[/red] --checkpoint: {c[:60]!r} is neither a file nor a JSON checkpoint")
            raise typer.Exit(2) from None
    with db.session() as s:
        check = audit.verify(s, db.audit_key, kept)
    if check.ok:
        legacy = f" ({check.legacy} unkeyed entries from before the key)" if check.legacy else ""
        pinned = f"; matches {len(kept)} checkpoints up to entry {check.checkpoint}" if kept else ""
        out.print(f"audit chain intact: {check.entries} entries{legacy}{pinned}")
        return
    err.print(f"[red]audit chain broken[/red]: {check.problem}")
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Print a signed checkpoint of the log's newest entry, to keep somewhere the database's holder cannot
    reach; `audit verify --checkpoint` later proves no entry up to it was cut or rewritten."""
    import json

    from api import audit

    db = _database(data_dir, database_url)
    if not db.audit_key:
        err.print("[red]error:[/red] the log is empty and there is no audit key yet: nothing to checkpoint")
        raise typer.Exit(2)
    with db.session() as s:
        check = audit.verify(s, db.audit_key, audit.read_checkpoints(db.checkpoints) if db.checkpoints else [])
        if not check.ok:
            err.print(f"[red]audit chain broken[/red], no checkpoint written: {check.problem}")
            raise typer.Exit(1)
        entry, head = audit.head(s)
    cp = audit.checkpoint(db.audit_key, entry, head)
    if db.checkpoints:
        audit.write_checkpoint(db.checkpoints, cp)  # the line printed is the line kept
    out.print(json.dumps(cp, separators=(",", ":")))


@audit_app.command("export")
def audit_export(
    output: Annotated[Path, typer.Argument(help="JSON lines file to write")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Write the whole audit log, with its hashes, as JSON lines."""
    from api import audit

    db = _database(data_dir, database_url)
    tmp = output.with_suffix(output.suffix + ".tmp")
    with db.session() as s, tmp.open("w", encoding="utf-8") as f:
        n = 0
        for line in audit.export_lines(s):
            f.write(line)
            n += 1
    tmp.replace(output)
    out.print(f"wrote {n} entries to {output}")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name")],
    role: Annotated[str, typer.Argument(help="staff, consultant, reviewer, evaluator or admin")],
    data_dir: DataDir = None,
    database_url: DbUrl = None,
) -> None:
    """Add a user and print their token once."""
    from api import audit
    from api.auth import create_user

    db = _database(data_dir, database_url, create_key=True)
    try:
        with db.session() as s:
            user, token = create_user(s, name, role)
            audit.append(db, s, None, "cli", "user.create", name, {"role": role, "provisional": True})
    except RegassistError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    out.print(f"{user.name} ({user.role}); token, shown once: {token}")
