"""Evaluation runs from the web: start one on a bundled set, watch it, read and download its report, and
compare two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from api.audit import append
from api.db import serialise
from api.deps import DeskDep, EvalUser, SessionDep
from api.errors import Conflict
from api.jobs import UNFINISHED
from api.models import Job
from api.schemas import EvalIn, JobOut
from api.views import job_out
from evals.gates import compare
from evals.report import explain, set_name
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
        select(Job).where(Job.kind == "eval", Job.created_by == who.id, Job.status.in_(UNFINISHED))
    )
    if pending is not None:
        raise Conflict(f"you have a run {pending.status} already (job {pending.id}); wait for it, or cancel it first")
    job = desk.jobs.submit_in(session, "eval", who.id, {"set": body.set, "resamples": body.resamples})
    append(desk.db, session, who.id, who.name, "eval.start", body.set, {"job": job.id})
    session.commit()
    desk.jobs.enqueue(job)
    return job_out(job)


@router.get("/compare", summary="Two finished runs side by side: each metric's change and verdict, what differed")
def compare_runs(
    desk: DeskDep,
    session: SessionDep,
    _who: EvalUser,
    a: str = Query(..., max_length=32, description="The earlier run (the baseline)"),
    b: str = Query(..., max_length=32, description="The later run"),
) -> dict[str, Any]:
    """B against A: a metric regressed when B falls outside A's 95% bootstrap interval on the bad side,
    improved when outside on the good side, and is noise otherwise; and what differed between the runs
    (code, model, settings, corpus, question set)."""
    runs = [_results(desk, session, x) for x in (a, b)]
    rows, changed = compare(runs[0], runs[1])
    for r in rows:
        r["explain"] = explain(r["metric"])
    return {
        "a": {"id": a, "set": set_name(runs[0]["set"]), "started": runs[0]["started"]},
        "b": {"id": b, "set": set_name(runs[1]["set"]), "started": runs[1]["started"]},
        "metrics": rows,
        # Server paths are not shown: a question set is named, not located.
        "changed": {k: v for k, v in changed.items() if k not in ("question_set", "set")}
        | ({"set": (set_name(runs[0]["set"]), set_name(runs[1]["set"]))} if "set" in changed else {}),
    }


@router.get("/{run_id}/results", summary="A finished run's full results as JSON (every question, every metric)")
def results(run_id: str, desk: DeskDep, session: SessionDep, _who: EvalUser) -> Response:
    data = _results(desk, session, run_id)
    data["set"] = set_name(data["set"])
    data.get("versions", {}).get("question_set", {}).pop("path", None)
    data.get("thresholds", {}).pop("file", None)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=1, default=str),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="regassist-eval-{data["set"]}-{run_id[:8]}.json"'},
    )


def _results(desk: DeskDep, session: SessionDep, run_id: str) -> dict[str, Any]:
    job = _run(session, run_id)
    path = desk.settings.eval_dir / run_id / "results.json"
    if job.status != "done" or not path.exists():
        raise NotFound(f"Run {run_id} has no results yet (status {job.status})")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _run(session: SessionDep, run_id: str) -> Job:
    job = session.get(Job, run_id)
    if job is None or job.kind != "eval":
        raise NotFound(f"No evaluation run '{run_id}'")
    return job


@router.get("/{run_id}", response_model=JobOut, summary="A run's progress and headline numbers")
def run(run_id: str, session: SessionDep, _who: EvalUser) -> JobOut:
    return job_out(_run(session, run_id))


@router.get("/{run_id}/report", response_class=HTMLResponse, summary="A finished run's HTML report")
def report(
    run_id: str,
    desk: DeskDep,
    session: SessionDep,
    _who: EvalUser,
    download: bool = Query(False, description="As a file to keep (one self-contained HTML file)"),
) -> HTMLResponse:
    job = _run(session, run_id)
    path = desk.settings.eval_dir / run_id / "report.html"
    if job.status != "done" or not Path(path).exists():
        raise NotFound(f"Run {run_id} has no report yet (status {job.status})")
    headers = {}
    if download:
        name = f"regassist-eval-{job.params.get('set', 'run')}-{run_id[:8]}.html"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return HTMLResponse(path.read_text(encoding="utf-8"), headers=headers)
