"""Several processes as a deployment, on loopback: PostgreSQL, `chroma run`, Redis, two `regassist serve`
processes that answer only, and one `regassist worker` that ingests. Every server is started here and stopped
here. Each process has a data folder of its own, as it would on a machine of its own: what they share is
PostgreSQL (desk, queue, catalog, sentence heads), Chroma, Redis (rate-limit counts), the audit key and the
files folder (uploaded originals and evaluation reports, a shared volume in a real deployment).

What a team running it would notice: the worker ingests the corpus the first service queued, a document
uploaded through one service is answered through the other soon after its switch, 32 people asking
through both at once for 30 s get no errors and leave an intact audit chain, and a token's rate limit is
counted once across both services rather than once in each.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, DESK_FILES, ROOT, free_port, wait_ready
from tests.test_api_review import Q_PDF, Q_TXT

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
UPLOAD = b"""# Line 7 calibration records (SOP QX-77)

## Retention

Calibration logs of packaging line 7 are retained for fourteen years after the batch expiry date.
The quality unit reviews the calibration logs of packaging line 7 every six months.
"""
Q_UPLOAD = "How long are calibration logs of packaging line 7 retained?"


class Deployment:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start `regassist ARGS` as if on a machine of its own: its data folder is its own."""
        log = self.root / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *args],
            env={**self.env, "REGASSIST_DATA_DIR": str(self.root / f"{name}-data")},
            cwd=ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def serve(self, name: str) -> str:
        port = free_port()
        proc = self.start(name, "serve", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, self.root / f"{name}.log", time.time() + 240)  # type: ignore[arg-type]
        return url

    def run(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `regassist ARGS` to its end from a machine of its own (an operator's)."""
        env = {**self.env, "REGASSIST_DATA_DIR": str(self.root / f"{name}-data")}
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _deployment(root: Path, database: str, chroma: str, redis: str, files: tuple[str, ...], **env: str) -> Deployment:
    corpus = root / "corpus"
    corpus.mkdir()
    for name in files:
        shutil.copy(ROOT / "corpus" / name, corpus / name)
    return Deployment(
        root,
        {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "REGASSIST_CORPUS_DIR": str(corpus),
            "REGASSIST_FILES_DIR": str(root / "shared-files"),
            "REGASSIST_DATABASE_URL": database,
            "REGASSIST_CHROMA_URL": chroma,
            "REGASSIST_COLLECTION": f"deploy_{os.getpid()}_{time.time_ns()}",
            "REGASSIST_RATE_LIMIT_STORAGE": redis,
            "REGASSIST_AUDIT_KEY": "deployment-test-audit-key-0123456789abcdef",
            "REGASSIST_ADMIN_TOKEN": ADMIN_TOKEN,
            "REGASSIST_JOB_POLL_S": "0.2",
            **env,
        },
    )


@pytest.fixture
def deployment(tmp_path: Path, fresh_postgres: str, chroma_server: str, redis_server: str) -> Iterator[Deployment]:
    d = _deployment(
        tmp_path,
        fresh_postgres,
        chroma_server,
        redis_server,
        DESK_FILES,
        REGASSIST_RUN_JOBS="false",
        REGASSIST_RATE_LIMIT="100000/minute",
    )
    yield d
    d.stop()


def _person(http: httpx.Client, name: str, role: str) -> dict[str, str]:
    r = http.post("/api/users", json={"name": name, "role": role}, headers=ADMIN)
    assert r.status_code == 201, r.text
    r = http.post("/api/me/token", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _cites(answer: dict[str, object], prefix: str) -> bool:
    return any(str(c["file"]).startswith(prefix) for c in answer["citations"])  # type: ignore[attr-defined]


def test_two_services_and_a_worker_share_one_index_one_queue_and_one_audit_chain(deployment: Deployment) -> None:
    d = deployment
    d.start("worker", "worker")
    first = d.serve("serve-a")  # ready once the worker has ingested the corpus this service queued
    second = d.serve("serve-b")
    a, b = httpx.Client(base_url=first, timeout=120), httpx.Client(base_url=second, timeout=120)
    staff = _person(a, "staff1", "staff")
    assert b.get("/api/me", headers=staff).status_code == 200  # one user table behind both

    # An upload through the first service, ingested by the worker, answered through the second.
    r = a.post(
        "/api/documents",
        params={"filename": "SOP-QX-77_line7-calibration.md", "issuing_body": "Internal", "status": "final"},
        content=UPLOAD,
        headers={**ADMIN, "content-type": "text/markdown"},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    t0 = time.monotonic()
    while not any(x["file"].startswith("SOP-QX-77") for x in b.get("/api/documents", headers=ADMIN).json()):
        assert time.monotonic() - t0 < 120, "the worker never switched the upload in"
        time.sleep(0.05)
    switched = time.monotonic()
    while True:
        r = b.post("/api/ask", json={"question": Q_UPLOAD}, headers=staff)
        assert r.status_code == 200, r.text
        if _cites(r.json(), "SOP-QX-77"):
            break
        assert time.monotonic() - switched < 2.0, f"not answered through the second service 2 s after: {r.json()}"
    visible_s = time.monotonic() - switched
    assert "fourteen years" in r.json()["text"]
    while a.get(f"/api/jobs/{job_id}", headers=ADMIN).json()["status"] in ("queued", "running"):
        time.sleep(0.1)
    assert a.get(f"/api/jobs/{job_id}", headers=ADMIN).json()["status"] == "done"

    # 32 people asking through both services for 30 s.
    questions = [Q_TXT, Q_PDF, Q_UPLOAD]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 30

    def person(i: int) -> None:
        with httpx.Client(base_url=(first, second)[i % 2], timeout=120) as http:
            n = 0
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                try:
                    resp = http.post("/api/ask", json={"question": questions[(i + n) % 3]}, headers=staff)
                    ok = resp.status_code == 200
                    why = f"{resp.status_code} {resp.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, repr(exc)
                with lock:
                    latencies.append(time.perf_counter() - t)
                    if not ok:
                        errors.append(why)
                n += 1

    threads = [threading.Thread(target=person, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == [], errors[:5]
    assert len(latencies) >= 32

    # The chain's MACs, and every machine's own signed checkpoints, checked from an operator's machine.
    kept = [d.root / f"{name}-data" / "audit-checkpoints.jsonl" for name in ("serve-a", "serve-b", "worker")]
    assert any(p.is_file() for p in kept)
    done = d.run("operator", "audit", "verify", *(a for p in kept if p.is_file() for a in ("--checkpoint", str(p))))
    assert done.returncode == 0 and "matches" in done.stdout, done.stdout + done.stderr
    # Nothing of what is shared was kept in a process's own folder.
    for name in ("serve-a", "serve-b", "worker"):
        own = {p.name for p in (d.root / f"{name}-data").iterdir()}
        assert not own & {"catalog.sqlite3", "heads.sqlite3", "desk.sqlite3", "uploads", "audit.key"}, (name, own)
    p95 = statistics.quantiles(latencies, n=20)[18]
    print(
        f"\nupload answered through the other service {visible_s:.2f} s after its switch; "
        f"{len(latencies)} questions in 30 s by 32 clients over 2 services, 0 errors, "
        f"p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s"
    )


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_tokens_rate_limit_counts_once_across_services_only_with_redis(
    storage: str, tmp_path: Path, fresh_postgres: str, chroma_server: str, redis_server: str
) -> None:
    """The attack: spread requests over both services to get twice the limit. With the counts in Redis the
    seventh request within the minute is refused by whichever service it reaches; in each process's memory
    (the documented single-machine default) each service allows six."""
    d = _deployment(
        tmp_path,
        fresh_postgres,
        chroma_server,
        redis_server if storage == "redis" else "memory://",
        ("EMA_AI-ML-technical-expectations_summary.txt",),
        REGASSIST_RATE_LIMIT="6/minute",
    )
    try:
        first, second = d.serve("serve-a"), d.serve("serve-b")
        a, b = httpx.Client(base_url=first, timeout=60), httpx.Client(base_url=second, timeout=60)
        r = a.post("/api/users", json={"name": "staff1", "role": "staff"}, headers=ADMIN)
        assert r.status_code == 201, r.text
        issued = {"Authorization": f"Bearer {r.json()['token']}"}
        r = a.post("/api/me/token", headers=issued)  # the claim counts against the issued token, not this one
        assert r.status_code == 200, r.text
        staff = {"Authorization": f"Bearer {r.json()['token']}"}
        codes = [(a, b)[i % 2].get("/api/me", headers=staff).status_code for i in range(14)]
        allowed = codes.count(200)
        assert set(codes) == {200, 429}, codes
        assert allowed == (6 if storage == "redis" else 12), codes
        if storage == "redis":
            assert codes[:6] == [200] * 6 and 429 in codes[6::2] and 429 in codes[7::2], codes
    finally:
        d.stop()
