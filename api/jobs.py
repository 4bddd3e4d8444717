"""Work off the request path: one worker thread runs ingest, removal and evaluation jobs.

Ingests and removals go before evaluation runs (an admin's upload never waits behind benchmarks), each
kind in the order submitted. A cancelled evaluation stops at its next progress report.

The worker has its own Index on the same folder (its own catalog connection), so a long ingest never
holds anything a question needs; the query side picks up the new generation when the catalog switches.
"""

from __future__ import annotations

import itertools
import logging
import queue
import shutil
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from api.audit import append
from api.models import Job, User
from ingest.errors import RegassistError
from ingest.pipeline import FileResult, Index, expand_paths
from ingest.types import DocumentMeta

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from api.desk import Desk

log = logging.getLogger("regassist.jobs")


class JobRunner:
    """A queue of job ids and the thread that works through it."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        # (priority, sequence, job id): 0 for ingest and removal, 1 for evaluation, 2 for the stop signal.
        self.queue: queue.PriorityQueue[tuple[int, int, str | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._cancelled: set[str] = set()
        self.thread = threading.Thread(target=self._loop, name="regassist-jobs", daemon=True)
        self._index: Index | None = None

    @property
    def index(self) -> Index:
        """The worker's own Index, sharing the query side's embedding model."""
        if self._index is None:
            self._index = Index(self.desk.index.settings, self.desk.index.embedder)
        return self._index

    def start(self) -> None:
        """Start the worker and requeue jobs a previous process left unfinished."""
        with self.desk.db.session() as s:
            for job in s.scalars(select(Job).where(Job.status.in_(("queued", "running"))).order_by(Job.created_at)):
                job.status = "queued"
                self._put(job.kind, job.id)
        self.thread.start()

    def stop(self) -> None:
        """Finish the current job and stop; queued jobs stay queued in the database for the next start."""
        while True:
            try:
                self.queue.get_nowait()
                self.queue.task_done()
            except queue.Empty:
                break
        self.queue.put((2, next(self._seq), None))
        self.thread.join(timeout=600)
        if self._index is not None:
            self._index.close()

    def submit(self, kind: str, user_id: int, params: dict[str, Any]) -> Job:
        """Queue a job; returns it as stored."""
        with self.desk.db.session() as s:
            job = self.submit_in(s, kind, user_id, params)
        self.enqueue(job)
        return job

    def submit_in(self, session: Session, kind: str, user_id: int, params: dict[str, Any]) -> Job:
        """Add a job to the caller's transaction; it is queued only by `enqueue`, once that has committed."""
        job = Job(id=uuid.uuid4().hex, kind=kind, status="queued", created_by=user_id, params=params)
        session.add(job)
        session.flush()
        return job

    def enqueue(self, job: Job) -> None:
        """Hand a committed job to the worker."""
        self._put(job.kind, job.id)

    def _put(self, kind: str, job_id: str) -> None:
        self.queue.put((1 if kind == "eval" else 0, next(self._seq), job_id))

    def cancel(self, job_id: str) -> None:
        """Stop a job: a queued one is skipped, a running one stops at its next progress report."""
        self._cancelled.add(job_id)

    def wait_idle(self) -> None:
        """Block until every queued job is done (tests and first start)."""
        self.queue.join()

    # --- the worker -------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            _, _, job_id = self.queue.get()
            try:
                if job_id is None:
                    return
                self._run(job_id)
            finally:
                self.queue.task_done()

    def _progress(self, job_id: str) -> Callable[[int, int], None]:
        def update(done: int, total: int) -> None:
            if job_id in self._cancelled:
                raise Cancelled(f"job {job_id} was cancelled")
            with self.desk.db.session() as s:
                job = s.get(Job, job_id)
                if job is not None:
                    job.done, job.total = done, total

        return update

    def _run(self, job_id: str) -> None:
        with self.desk.db.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.status not in ("queued", "running"):
                return
            job.status = "running"
            kind, params, user_id = job.kind, dict(job.params), job.created_by
        try:
            handler = {"ingest": self._ingest, "remove": self._remove, "eval": self._eval}[kind]
            result = handler(job_id, params, user_id)
            status, error = "done", None
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


class IngestFailed(RegassistError):
    """Every file of an ingest job failed."""


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    metrics = summary.get("metrics", {})
    out: dict[str, Any] = {k: round(float(m["value"]), 4) for k, m in metrics.items() if not k.startswith("chunk_")}
    out["abstention_mcc"] = summary.get("abstention_confusion", {}).get("mcc")
    out["n"] = summary.get("n")
    return out
