"""The service: streaming answers, health and readiness, first start, and evaluation runs from the web."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from api.app import create_app
from api.desk import Desk
from api.settings import ApiSettings
from ingest.embedding import OnnxEmbedder
from tests.conftest import DeskEnv
from tests.test_api_review import Q_PDF


def _events(body: str) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = block.splitlines()
        event = next(x[7:] for x in lines if x.startswith("event: "))
        data = "\n".join(x[6:] for x in lines if x.startswith("data: "))
        out.append((event, json.loads(data)))
    return out


def test_stream_sends_retrieval_then_tokens_then_the_verified_stored_answer(desk_env: DeskEnv) -> None:
    env = desk_env
    with env.client.stream("POST", "/api/ask/stream", json={"question": Q_PDF}, headers=env.auth("staff")) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events("".join(r.iter_text()))
    kinds = [e for e, _ in events]
    assert kinds[0] == "retrieval" and kinds[-1] == "answer" and set(kinds[1:-1]) == {"token"}
    streamed = "".join(str(d["text"]) for e, d in events if e == "token")
    answer = events[-1][1]
    assert "Audit trails need to be available" in streamed
    assert answer["citations"][0]["page"] == 4 and answer["claims"][0]["supported"] is True  # type: ignore[index]
    stored = env.client.get(f"/api/records/{answer['id']}", headers=env.auth("staff")).json()
    assert stored["status"] == "draft" and stored["text"] == answer["text"]


def test_health_and_readiness(desk_env: DeskEnv) -> None:
    env = desk_env
    assert env.client.get("/healthz").json() == {"status": "ok"}
    r = env.client.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True and r.json()["documents"] == 3
    assert env.client.get("/docs").status_code == 200
    assert "regassist" in env.client.get("/").text


def test_first_start_prints_a_token_once_and_ingests_the_corpus_in_the_background(
    tmp_path: Path, desk_template: Path, embedder: OnnxEmbedder
) -> None:
    shutil.copytree(desk_template / "corpus", tmp_path / "corpus")
    settings = ApiSettings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus")
    desk = Desk(settings, embedder=embedder)
    started = desk.start()
    assert started.admin_created and started.admin_token and started.admin_token.startswith("ra_")
    assert started.corpus_job is not None
    from fastapi.testclient import TestClient

    client = TestClient(create_app(desk, close_on_shutdown=False))
    auth = {"Authorization": f"Bearer {started.admin_token}"}
    assert client.get("/api/me", headers=auth).json()["role"] == "admin"
    desk.jobs.wait_idle()
    job = client.get(f"/api/jobs/{started.corpus_job}", headers=auth).json()
    assert job["status"] == "done" and job["result"]["added"] == 3 and job["done"] == job["total"] == 3
    assert client.get("/readyz").json()["ready"] is True
    desk.close()
    again = Desk(settings, embedder=embedder)
    second = again.start()
    assert (second.admin_created, second.admin_token, second.corpus_job) == (False, None, None)
    again.close()


def test_an_evaluator_starts_a_run_watches_it_and_reads_the_report(desk_env: DeskEnv) -> None:
    env = desk_env
    r = env.client.post("/api/evals", json={"set": "bundled-dev", "resamples": 100}, headers=env.auth("evaluator"))
    assert r.status_code == 202 and r.json()["status"] == "queued"
    run_id = r.json()["id"]
    env.desk.jobs.wait_idle()
    run = env.client.get(f"/api/evals/{run_id}", headers=env.auth("evaluator")).json()
    assert run["status"] == "done", run["error"]
    assert run["done"] == run["total"] == 70
    summary = run["result"]["summary"]
    # Three documents of the 22 the set covers: most questions cannot be answered from this index.
    assert 0 <= summary["correct"] < 0.5 and summary["n"] == 70
    report = env.client.get(f"/api/evals/{run_id}/report", headers=env.auth("evaluator"))
    assert report.status_code == 200 and "Abstention" in report.text and "<svg" in report.text
    assert [x["id"] for x in env.client.get("/api/evals", headers=env.auth("evaluator")).json()] == [run_id]
