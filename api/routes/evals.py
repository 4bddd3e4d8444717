"""Evaluation runs from the web: start one on a bundled set, watch it, read its report."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from api.audit import append
from api.db import serialise
from api.deps import DeskDep, EvalUser, SessionDep
from api.errors import Conflict
from api.models import Job
from api.schemas import EvalIn, JobOut
from api.views import job_out
from ingest.errors import NotFound

router = APIRouter(prefix="/api/evals", tags=["evaluations"])


@router.get("", response_model=list[JobOut], summary="Evaluation runs, newest first")
def runs(session: SessionDep, _who: EvalUser) -> list[JobOut]:
    q = select(Job).where(Job.kind == "eval").order_by(Job.created_at.desc()).limit(100)
    return [job_out(j) for j in session.scalars(q)]


@router.post("", response_model=JobOut, status_code=202, summary="Start a run on a bundled question set")
def start(body: EvalIn, desk: DeskDep, session: SessionDep, who: EvalUser) -> JobOut:
    # One run at a time per evaluator (a double click queues one, not two); ingest jobs go first anyway.
    # The check and the new run are one transaction under the desk's serialising lock: two starts sent at
    # once both found no pending run and queued two.
    serialise(session)
    pending = session.scalar(
        select(Job).where(Job.kind == "eval", Job.created_by == who.id, Job.status.in_(("queued", "running")))
    )
    if pending is not None:
        raise Conflict(f"you have a run {pending.status} already (job {pending.id}); wait for it, or cancel it first")
    job = desk.jobs.submit_in(session, "eval", who.id, {"set": body.set, "resamples": body.resamples})
    append(desk.db, session, who.id, who.name, "eval.start", body.set, {"job": job.id})
    session.commit()
    desk.jobs.enqueue(job)
    return job_out(job)


def _run(session: SessionDep, run_id: str) -> Job:
    job = session.get(Job, run_id)
    if job is None or job.kind != "eval":
        raise NotFound(f"No evaluation run '{run_id}'")
    return job


@router.get("/{run_id}", response_model=JobOut, summary="A run's progress and headline numbers")
def run(run_id: str, session: SessionDep, _who: EvalUser) -> JobOut:
    return job_out(_run(session, run_id))


@router.get("/{run_id}/report", response_class=HTMLResponse, summary="A finished run's HTML report")
def report(run_id: str, desk: DeskDep, session: SessionDep, _who: EvalUser) -> HTMLResponse:
    job = _run(session, run_id)
    path = desk.settings.eval_dir / run_id / "report.html"
    if job.status != "done" or not Path(path).exists():
        raise NotFound(f"Run {run_id} has no report yet (status {job.status})")
    return HTMLResponse(path.read_text(encoding="utf-8"))
