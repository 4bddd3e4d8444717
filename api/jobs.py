"""Work off the request path: ingest, removal and evaluation jobs, claimed from the database by any worker.

The jobs table is the queue. A worker (the service's own thread, or a `regassist worker` process on this
machine or another) claims the next job in one short transaction under the desk's claim lock (SQLite's write
lock, or a PostgreSQL advisory lock, with `FOR UPDATE SKIP LOCKED` on the row), marks it running with its
name and a lease, renews the lease while it works, and records the result. Ingests and removals go before
evaluation runs (an admin's upload never waits behind benchmarks), each kind in the order submitted, and
only one job that writes the index runs at a time, whichever worker holds it; evaluations run beside it.

A job whose worker dies goes back to the queue: at once when the worker was a process on this machine that
no longer exists, and otherwise when its lease lapses. Ingest is idempotent (unchanged files are skipped and
`reconcile` finishes what a killed run left), so running a job again is safe. A job taken
`job_max_attempts` times without finishing fails rather than kill workers for ever. A cancelled evaluation
stops at its next progress report, in whichever process runs it.

Why not a queue library: procrastinate, the maintained PostgreSQL queue, has no SQLite mode, and the
embedded single-process desk must keep working on a SQLite file with no other service; two queues would
behave differently in exactly the failures that matter. The jobs table already carries what people see
(progress, result, who asked), and a killed worker's job is retried by application code in procrastinate
too (its stalled-job query). So the queue is this table, claimed with `SKIP LOCKED` where the engine has it.

A worker has its own Index on the same folder (its own catalog connection), so a long ingest never holds
anything a question needs; the query side picks up the new generation when the catalog switches.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import case, func, select, update

from api.audit import append
from api.db import serialise
from api.models import Job, User
from ingest.database import CLAIM_LOCK
from ingest.errors import RegassistError
from ingest.pipeline import FileResult, Index, expand_paths
from ingest.types import DocumentMeta

if TYPE_CHECKING:
    from sqlalchemy import CursorResult
    from sqlalchemy.orm import Session

    from api.desk import Desk

log = logging.getLogger("regassist.jobs")

# Jobs that write the index: one at a time across all workers.
INDEX_KINDS = ("ingest", "remove")
# A job still to finish.
UNFINISHED = ("queued", "running")


def _aware(t: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _process_gone(worker: str) -> bool:
    """Whether a worker name ("host:pid:nonce") is a process on this machine that no longer exists."""
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # another runner in this process: only its lease can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobRunner:
    """Claims jobs from the database and runs them, one at a time, in a thread."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        s = desk.settings
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=s.job_lease_s)
        self.poll_s = s.job_poll_s
        self.max_attempts = s.job_max_attempts
        self.thread = threading.Thread(target=self._loop, name="regassist-jobs", daemon=True)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lost: set[str] = set()
        self._index: Index | None = None

    @property
    def index(self) -> Index:
        """The worker's own Index, sharing the query side's embedding model."""
        if self._index is None:
            self._index = Index(self.desk.index.settings, self.desk.index.embedder)
        return self._index

    def start(self) -> None:
        """Start the worker thread (jobs a dead worker left are taken again as they are claimed)."""
        self.thread.start()

    def request_stop(self) -> None:
        """Ask the worker to stop after its current job (safe from a signal handler)."""
        self._stopping.set()
        self._wake.set()

    def stop(self) -> None:
        """Finish the current job and stop; queued jobs stay queued in the database for any worker."""
        self.request_stop()
        if self.thread.is_alive():
            self.thread.join(timeout=600)
        if self._index is not None:
            self._index.close()
            self._index = None

    def run_forever(self) -> None:
        """Work in the calling thread until `request_stop` (the `regassist worker` command's signal handler)."""
        self._loop()

    def submit(self, kind: str, user_id: int, params: dict[str, Any]) -> Job:
        """Queue a job; returns it as stored."""
        with self.desk.db.session() as s:
            job = self.submit_in(s, kind, user_id, params)
        self.enqueue(job)
        return job

    def submit_in(self, session: Session, kind: str, user_id: int, params: dict[str, Any]) -> Job:
        """Add a job to the caller's transaction; a worker can take it once that has committed."""
        job = Job(id=uuid.uuid4().hex, kind=kind, status="queued", created_by=user_id, params=params)
        session.add(job)
        session.flush()
        return job

    def enqueue(self, job: Job) -> None:
        """Tell this process's worker that a committed job is waiting (others find it when they next look)."""
        self.notify()

    def notify(self) -> None:
        """Wake this process's worker to look for work now rather than at its next poll."""
        self._wake.set()

    def pending(self) -> list[tuple[str, str]]:
        """Queued jobs as (id, kind), in the order workers will take them."""
        with self.desk.db.session() as s:
            return [(j.id, j.kind) for j in s.scalars(self._queued_in_order())]

    def unfinished(self) -> int:
        """Jobs queued or running."""
        with self.desk.db.session() as s:
            q = select(func.count()).select_from(Job).where(Job.status.in_(UNFINISHED))
            return int(s.scalar(q) or 0)

    def wait_idle(self, timeout_s: float = 900.0) -> None:
        """Block until no job is queued or running (tests and first start); TimeoutError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while self.unfinished():
            if time.monotonic() > deadline:
                raise TimeoutError(f"jobs still unfinished after {timeout_s:.0f} s")
            time.sleep(0.05)

    # --- claiming ---------------------------------------------------------------------------------
    @staticmethod
    def _queued_in_order() -> Any:
        return (
            select(Job)
            .where(Job.status == "queued")
            .order_by(case((Job.kind == "eval", 1), else_=0), Job.created_at, Job.id)
        )

    def claim(self) -> str | None:
        """Take the next job this worker may run, or None. Requeues (or fails) jobs of dead workers first."""
        with self.desk.db.session() as s:
            serialise(s, CLAIM_LOCK)
            now = db_now(s)
            writer_running = False
            for held in s.scalars(select(Job).where(Job.status == "running")):
                if self._abandoned(held, now):
                    log.warning("job %s: its worker %s stopped without finishing it", held.id, held.claimed_by)
                    if held.attempts >= self.max_attempts:
                        held.status, held.finished_at = "failed", now
                        held.error = (
                            f"its worker stopped without finishing it {held.attempts} times "
                            f"(last {held.claimed_by}); not tried again"
                        )
                        continue
                    held.status, held.claimed_by = "queued", None
                elif held.kind in INDEX_KINDS:
                    writer_running = True
            s.flush()
            q = self._queued_in_order().limit(1)
            if writer_running:
                q = q.where(Job.kind.not_in(INDEX_KINDS))
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            job: Job | None = s.scalars(q).first()
            if job is None:
                return None
            job.status, job.claimed_by, job.heartbeat_at = "running", self.name, now
            job.attempts += 1
            return str(job.id)

    def _abandoned(self, job: Job, now: datetime) -> bool:
        if job.claimed_by is None or job.heartbeat_at is None:
            return True  # a job left running before leases existed
        if job.claimed_by == self.name:
            return False
        return _process_gone(job.claimed_by) or _aware(job.heartbeat_at) < now - self.lease

    def _renew(self, job_id: str, done: threading.Event) -> None:
        """Renew the lease every lease/3 until the job ends; note it if another worker took the job."""
        every = self.lease.total_seconds() / 3
        while not done.wait(every):
            with self.desk.db.session() as s:
                renewed = s.execute(
                    update(Job).where(Job.id == job_id, Job.claimed_by == self.name).values(heartbeat_at=db_now(s))
                )
            if not cast("CursorResult[Any]", renewed).rowcount:
                self._lost.add(job_id)
                return

    # --- the worker -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking, so a job submitted while we look wakes the next wait
            try:
                job_id = self.claim()
            except Exception:  # the database went away for a moment: try again at the next look
                log.error("claiming a job failed:\n%s", traceback.format_exc())
                job_id = None
            if job_id is None:
                self._wake.wait(self.poll_s)
                continue
            done = threading.Event()
            renew = threading.Thread(target=self._renew, args=(job_id, done), name="regassist-lease", daemon=True)
            renew.start()
            try:
                self._run(job_id)
            finally:
                done.set()
                renew.join()
                self._lost.discard(job_id)

    def _progress(self, job_id: str) -> Callable[[int, int], None]:
        def update_progress(done: int, total: int) -> None:
            if job_id in self._lost:
                raise LeaseLost(f"job {job_id} was taken by another worker after this one's lease lapsed")
            with self.desk.db.session() as s:
                job = s.get(Job, job_id)
                if job is None:
                    return
                if job.status == "cancelled":
                    raise Cancelled(f"job {job_id} was cancelled")
                job.done, job.total = done, total

        return update_progress

    def _run(self, job_id: str) -> None:
        with self.desk.db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            kind, params, user_id = job.kind, dict(job.params), job.created_by
        try:
            handler = {"ingest": self._ingest, "remove": self._remove, "eval": self._eval}[kind]
            result = handler(job_id, params, user_id)
            status, error = "done", None
        except LeaseLost as exc:
            log.warning("%s", exc)
            return  # the job is another worker's now; leave its row alone
        except Cancelled as exc:
            result, status, error = None, "cancelled", str(exc)
        except RegassistError as exc:
            result, status, error = None, "failed", str(exc)
        except Exception as exc:  # a job must never kill the worker; the trace goes to the log
            log.error("job %s failed:\n%s", job_id, traceback.format_exc())
            result, status, error = None, "failed", f"{type(exc).__name__}: {exc}"
        with self.desk.db.session() as s:
            job = s.get(Job, job_id)
            assert job is not None
            if job.claimed_by != self.name:
                return  # taken by another worker while this one stalled
            if job.status == "cancelled":  # cancelled after its last progress report: it stays cancelled
                status, result = "cancelled", None
            job.status, job.result, job.error = status, result, error
            job.finished_at = datetime.now(UTC)

    def _user(self, user_id: int) -> tuple[int, str]:
        with self.desk.db.session() as s:
            user = s.get(User, user_id)
            return (user_id, user.name if user else "system")

    def _ingest(self, job_id: str, params: dict[str, Any], user_id: int) -> dict[str, Any]:
        paths = [Path(p) for p in params["paths"]]
        total = len(expand_paths(paths))
        results: list[FileResult] = []
        progress = self._progress(job_id)
        progress(0, total)

        def on_file(r: FileResult) -> None:
            results.append(r)
            progress(len(results), total)

        metas = {params["file"]: DocumentMeta(**params["meta"])} if params.get("meta") else None
        # An admin's fields (an edit, or an upload's form) are kept for the file's later versions; they are
        # recorded before the ingest that applies them, and taken back if that ingest fails.
        kept = self.index.catalog.edits_for(params["file"]) if params.get("edits") else None
        if params.get("edits"):
            self.index.catalog.record_edits(params["file"], params["edits"])
        try:
            report = self.index.ingest(paths, progress=on_file, metas=metas, force=params.get("force", ()))
        except BaseException:
            if kept is not None:
                self.index.catalog.record_edits(params["file"], kept, replace=True)
            raise
        if kept is not None and any(r.outcome == "failed" for r in report.results):
            self.index.catalog.record_edits(params["file"], kept, replace=True)
        keep_as = params.get("keep_as")
        if keep_as:  # an upload: keep the file only if it made it into the index
            incoming = paths[0]
            if all(r.outcome != "failed" for r in report.results):
                Path(keep_as).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(incoming), keep_as)
            shutil.rmtree(incoming.parent, ignore_errors=True)
        summary_heads = self.desk.assistant.warm()
        failed = [r.error for r in report.results if r.outcome == "failed"]
        summary = {
            o: report.count(o)
            for o in ("added", "updated", "unchanged", "failed")  # type: ignore[misc]
        } | {
            "chunks": report.chunks,
            "pages": report.pages,
            "errors": failed,
            "warnings": [w for r in report.results for w in r.warnings],
            "sentence_heads": summary_heads,
        }
        with self.desk.db.session() as s:
            uid, name = self._user(user_id)
            append(self.desk.db, s, uid, name, "ingest", ",".join(p.name for p in paths)[:200], summary)
        summary["rereview"] = self.desk.check_sources()
        if failed and not (report.count("added") + report.count("updated") + report.count("unchanged")):
            raise IngestFailed("; ".join(str(f) for f in failed))
        return summary

    def _remove(self, job_id: str, params: dict[str, Any], user_id: int) -> dict[str, Any]:
        doc = self.index.catalog.document(params["document_id"])
        chunks = self.index.remove(params["document_id"])
        if doc is not None:
            (self.desk.settings.uploads_dir / doc["file"]).unlink(missing_ok=True)
        return {"chunks": chunks, "rereview": self.desk.check_sources()}

    def _eval(self, job_id: str, params: dict[str, Any], user_id: int) -> dict[str, Any]:
        from assistant.service import Assistant
        from evals.evaluate import evaluate
        from evals.gates import THRESHOLDS
        from evals.questions import resolve_set
        from evals.runner import pinned_corpus

        assistant = Assistant(self.index, self.desk.assistant.settings, self.desk.assistant.chat)
        out = self.desk.settings.eval_dir / job_id
        # The bundled corpus the sets were written on, version by version: uploads do not move the benchmark.
        pinned = pinned_corpus(self.desk.settings.corpus_dir, self.index.catalog)
        result = evaluate(
            assistant,
            resolve_set(params["set"]),
            out,
            THRESHOLDS,
            claims=True,
            resamples=int(params.get("resamples", 1000)),
            progress=self._progress(job_id),
            pinned=pinned,
        )
        return {
            "set": params["set"],
            "summary": _headline(result.run.summary),
            "failures": result.failures or [],
            "targets_missed": result.missed,
            "documents": len(pinned),
        }


class Cancelled(RegassistError):
    """A job stopped because someone cancelled it."""


def db_now(session: Session) -> datetime:
    """The time leases are written and judged by: PostgreSQL's clock, which every worker on every machine
    shares (their own clocks may disagree by more than a lease), or this machine's for a SQLite file."""
    if session.get_bind().dialect.name == "postgresql":  # the time now, not the transaction's start
        return _aware(session.scalars(select(func.clock_timestamp())).one())
    return datetime.now(UTC)


class LeaseLost(RegassistError):
    """This worker's lease on a job lapsed and another worker took the job."""


class IngestFailed(RegassistError):
    """Every file of an ingest job failed."""


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    metrics = summary.get("metrics", {})
    out: dict[str, Any] = {k: round(float(m["value"]), 4) for k, m in metrics.items() if not k.startswith("chunk_")}
    out["abstention_mcc"] = summary.get("abstention_confusion", {}).get("mcc")
    out["n"] = summary.get("n")
    return out
