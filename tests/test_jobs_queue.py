"""The job queue as workers meet it: jobs claimed from the database, one index writer at a time, leases, and
a `regassist worker` killed mid-ingest whose job another worker finishes (on PostgreSQL and a Chroma server).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from api.desk import Desk
from api.jobs import JobRunner
from api.models import Job
from api.settings import ApiSettings
from ingest.embedding import OnnxEmbedder
from ingest.settings import IngestSettings
from tests.conftest import ADMIN_TOKEN, CORPUS, ROOT


def _desk(root: Path, embedder: OnnxEmbedder, database_url: str | None = None, **ingest: object) -> Desk:
    """A desk that runs no jobs itself (the tests claim them), on an empty index."""
    settings = ApiSettings(
        data_dir=root / "data",
        database_url=database_url,
        corpus_dir=root / "no-corpus",
        admin_token=ADMIN_TOKEN,
        run_jobs=False,
        job_lease_s=3.0,
    )
    desk = Desk(settings, IngestSettings(data_dir=root / "data", **ingest), embedder=embedder)  # type: ignore[arg-type]
    desk.start()
    return desk


@pytest.fixture(params=["sqlite", "postgresql"])
def desk(request: pytest.FixtureRequest, tmp_path: Path, embedder: OnnxEmbedder) -> Iterator[Desk]:
    url = request.getfixturevalue("fresh_postgres") if request.param == "postgresql" else None
    d = _desk(tmp_path, embedder, url)
    yield d
    d.close()


def _set(desk: Desk, job_id: str, **fields: object) -> None:
    with desk.db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        for k, v in fields.items():
            setattr(job, k, v)


def _job(desk: Desk, job_id: str) -> Job:
    with desk.db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def test_index_writes_go_first_and_one_at_a_time_while_evaluations_run_beside_them(desk: Desk) -> None:
    e1 = desk.jobs.submit("eval", 1, {"set": "bundled-dev"}).id
    e2 = desk.jobs.submit("eval", 1, {"set": "bundled-test"}).id
    r1 = desk.jobs.submit("remove", 1, {"document_id": "none"}).id
    i1 = desk.jobs.submit("ingest", 1, {"paths": []}).id
    assert desk.jobs.pending() == [(r1, "remove"), (i1, "ingest"), (e1, "eval"), (e2, "eval")]
    first, second = desk.jobs, JobRunner(desk)
    assert first.claim() == r1
    # The removal is running: the ingest waits for it, whichever worker asks; evaluations do not.
    assert second.claim() == e1
    assert second.claim() == e2
    assert second.claim() is None and first.claim() is None
    _set(desk, r1, status="done")
    assert second.claim() == i1
    running = _job(desk, i1)
    assert running.status == "running" and running.claimed_by == second.name and running.attempts == 1


def test_a_job_whose_worker_is_gone_is_taken_again_and_fails_after_the_limit(desk: Desk) -> None:
    now = datetime.now(UTC)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process of this machine that has exited (and been reaped)
    here = socket.gethostname()
    dead = desk.jobs.submit("eval", 1, {"set": "bundled-dev"}).id
    _set(desk, dead, status="running", claimed_by=f"{here}:{gone.pid}:0", heartbeat_at=now, attempts=1)
    # A worker on another machine that renewed its lease just now keeps its job; one whose lease lapsed does not.
    alive = desk.jobs.submit("eval", 1, {"set": "bundled-dev"}).id
    _set(desk, alive, status="running", claimed_by="elsewhere:123:0", heartbeat_at=now, attempts=1)
    lapsed = desk.jobs.submit("eval", 1, {"set": "bundled-dev"}).id
    _set(desk, lapsed, status="running", claimed_by="elsewhere:456:0", heartbeat_at=now - timedelta(seconds=10))
    worn = desk.jobs.submit("eval", 1, {"set": "bundled-dev"}).id
    _set(desk, worn, status="running", claimed_by=f"{here}:{gone.pid}:0", heartbeat_at=now, attempts=3)

    taken = {desk.jobs.claim(), desk.jobs.claim()}
    assert taken == {dead, lapsed} and desk.jobs.claim() is None
    assert _job(desk, dead).attempts == 2 and _job(desk, dead).claimed_by == desk.jobs.name
    assert _job(desk, alive).status == "running" and _job(desk, alive).claimed_by == "elsewhere:123:0"
    failed = _job(desk, worn)
    assert failed.status == "failed" and "stopped without finishing it 3 times" in (failed.error or "")


def test_workers_racing_for_jobs_take_each_exactly_once(desk: Desk) -> None:
    ids = [desk.jobs.submit("eval", 1, {"set": "bundled-dev"}).id for _ in range(60)]
    runners = [JobRunner(desk) for _ in range(8)]
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(runners))

    def work(runner: JobRunner) -> None:
        start.wait()
        while (job_id := runner.claim()) is not None:
            with lock:
                claimed.append((job_id, runner.name))

    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(j for j, _ in claimed)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    with desk.db.session() as s:
        held = {j.id: j.claimed_by for j in s.scalars(select(Job))}
    assert all(held[j] == name for j, name in claimed)


def test_a_worker_refuses_to_share_an_embedded_chroma_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REGASSIST_CHROMA_URL"}
    env |= {"PYTHONPATH": str(ROOT), "REGASSIST_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "worker"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "REGASSIST_CHROMA_URL" in done.stderr
    assert not (tmp_path / "data" / "chroma").exists()


# --- a worker killed mid-ingest ----------------------------------------------------------------------
FILES = (
    "Asphalion_news_EMA-HMA-AI-workplan_2025.txt",
    "BakerMcKenzie_summary_EMA-AI-workplan_2023.txt",
    "EC_EU-GMP-Annex11_computerised-systems_2011.pdf",
    "EMA_AI-ML-technical-expectations_summary.txt",
    "FDA_CPG-490.100_process-validation_2004.pdf",
    "FDA_guidance_Part11-electronic-records-signatures-scope-application_2003.pdf",
)


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker"],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill takes its parse worker too
    )


def _wait(what: str, check: object, timeout_s: float, logs: list[Path]) -> float:
    t0 = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - t0 > timeout_s:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
            pytest.fail(f"{what} did not happen within {timeout_s:.0f} s\n{tails}")
        time.sleep(0.05)
    return time.monotonic() - t0


def test_a_worker_killed_mid_ingest_leaves_its_job_to_another_and_the_index_consistent(
    tmp_path: Path, embedder: OnnxEmbedder, fresh_postgres: str, chroma_server: str
) -> None:
    corpus = tmp_path / "incoming"
    corpus.mkdir()
    for name in FILES:
        shutil.copy(CORPUS / name, corpus / name)
    collection = f"kill_{os.getpid()}_{int(time.time())}"
    desk = _desk(tmp_path, embedder, fresh_postgres, chroma_url=chroma_server, collection=collection)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REGASSIST_DATA_DIR": str(tmp_path / "data"),
        "REGASSIST_DATABASE_URL": fresh_postgres,
        "REGASSIST_CHROMA_URL": chroma_server,
        "REGASSIST_COLLECTION": collection,
        "REGASSIST_JOB_POLL_S": "0.2",
        "REGASSIST_JOB_LEASE_S": "6",
    }
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    try:
        job_id = desk.jobs.submit("ingest", 1, {"paths": [str(corpus)]}).id
        first = _worker(env, logs[0])
        _wait("the first worker's progress past two files", lambda: _job(desk, job_id).done >= 2, 180, logs)
        at_kill = _job(desk, job_id)
        assert at_kill.status == "running" and at_kill.done < len(FILES), "the kill came too late to test anything"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()

        second = _worker(env, logs[1])
        taken = _wait("the second worker taking the job", lambda: _job(desk, job_id).attempts == 2, 120, logs)
        _wait("the job finishing", lambda: _job(desk, job_id).status not in ("queued", "running"), 300, logs)
        finished = time.monotonic() - killed_at
        job = _job(desk, job_id)
        assert job.status == "done", job.error
        assert job.result is not None and job.result["errors"] == []
        # What the first worker switched before it died is unchanged; the rest was added by the second.
        assert job.result["unchanged"] + job.result["added"] == len(FILES) and job.result["unchanged"] >= 2

        index = desk.index
        live = index.catalog.chunk_ids()
        assert sorted(d["file"] for d in index.catalog.documents()) == sorted(FILES)
        assert index.vectors.ids() == live  # no vectors of a half-written file, none missing
        index.refresh_lexical()
        assert index.lexical.stored_generation() == index.catalog.generation() and len(index.lexical) == len(live)
        answer = desk.assistant.ask("What does Annex 11 expect about periodic evaluation of computerised systems?")
        assert not answer.abstained and any("Annex11" in c.file for c in answer.citations)

        # SIGTERM stops an idle worker cleanly.
        os.killpg(second.pid, signal.SIGTERM)
        assert second.wait(30) == 0
        print(f"\nkill to retake: {taken:.1f} s after start of second worker; kill to done: {finished:.1f} s")
    finally:
        for proc in (p for p in locals().values() if isinstance(p, subprocess.Popen)):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        desk.close()
