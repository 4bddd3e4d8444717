"""Source changes: approved answers whose cited passages change go back to the review queue, with what changed."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import DeskEnv
from tests.test_api_review import EMA_TXT, Q_PDF, Q_TXT

CITED = "a new independent test dataset is required"


def _approve(env: DeskEnv, question: str) -> str:
    rec = env.ask(question)
    r = env.client.post(
        f"/api/records/{rec['id']}/approve",
        json={"version": env.version(rec["id"]), "reason": "ok"},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 200, r.text
    return str(rec["id"])


def _upload(env: DeskEnv, path: Path, text: str) -> dict[str, object]:
    r = env.client.post(
        "/api/documents",
        params={"filename": path.name},
        content=text.encode(),
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    assert r.status_code == 202, r.text
    return env.wait_job(str(r.json()["id"]))


def _status(env: DeskEnv, record_id: str) -> dict[str, object]:
    out: dict[str, object] = env.client.get(f"/api/records/{record_id}", headers=env.auth("reviewer")).json()
    return out


def test_a_changed_cited_passage_sends_the_answer_back_to_review(desk_env: DeskEnv) -> None:
    env = desk_env
    changed = _approve(env, Q_TXT)
    untouched = _approve(env, Q_PDF)
    original = (env.corpus / EMA_TXT).read_text()
    job = _upload(env, env.corpus / EMA_TXT, original.replace(CITED, "the existing test set may be reused"))
    assert job["status"] == "done" and job["result"]["updated"] == 1  # type: ignore[index]
    assert job["result"]["rereview"] == [changed]  # type: ignore[index]

    rec = _status(env, changed)
    assert rec["status"] == "needs_rereview"
    (change,) = rec["rereview"]  # type: ignore[misc]
    assert change["change"] == "changed" and change["file"] == EMA_TXT and change["n"] == 1
    assert CITED in change["old_quote"] and "the existing test set may be reused" in change["now_reads"]
    assert _status(env, untouched)["status"] == "approved"
    queue = env.client.get("/api/review/queue", headers=env.auth("reviewer")).json()
    assert [r["id"] for r in queue] == [changed]
    # The upload kept the document's metadata: same title, same issuing body.
    doc = next(d for d in env.client.get("/api/documents", headers=env.auth("admin")).json() if d["file"] == EMA_TXT)
    assert doc["title"].startswith("Technical Aspects of AI/ML for Medicines")
    assert (doc["issuing_body"], doc["doc_type"]) == ("Training site", "summary")
    # Approving again needs the reviewer to say they checked the new text.
    r = env.client.post(
        f"/api/records/{changed}/approve", json={"version": env.version(changed)}, headers=env.auth("reviewer")
    )
    assert r.status_code == 409 and "has changed" in r.json()["error"]
    r = env.client.post(
        f"/api/records/{changed}/approve",
        json={"version": env.version(changed), "acknowledge_unsupported": True},
        headers=env.auth("reviewer"),
    )
    assert r.json()["status"] == "approved" and r.json()["rereview"] is None
    assert r.json()["reviews"][-1]["documents"][0]["document_id"] == doc["document_id"]


def test_an_unrelated_change_leaves_approved_answers_alone(desk_env: DeskEnv) -> None:
    env = desk_env
    rid = _approve(env, Q_TXT)
    original = (env.corpus / EMA_TXT).read_text()
    job = _upload(env, env.corpus / EMA_TXT, original.replace("Ready to test your knowledge?", "Test yourself."))
    assert job["result"]["updated"] == 1 and job["result"]["rereview"] == []  # type: ignore[index]
    rec = _status(env, rid)
    assert rec["status"] == "approved"
    docs = {d["file"]: d["document_id"] for d in env.client.get("/api/documents", headers=env.auth("admin")).json()}
    assert rec["citations"][0]["document_id"] == docs[EMA_TXT]  # now attests to the new version


def test_a_removed_source_and_an_ingest_from_the_command_line_are_noticed(desk_env: DeskEnv) -> None:
    env = desk_env
    from_pdf = _approve(env, Q_PDF)
    from_txt = _approve(env, Q_TXT)
    # Someone re-ingests a changed file with `regassist ingest` while the service runs.
    (env.corpus / EMA_TXT).write_text((env.corpus / EMA_TXT).read_text().replace(CITED, "no further data is needed"))
    from ingest.pipeline import Index

    other = Index(env.desk.index.settings, env.desk.index.embedder)
    assert other.ingest([env.corpus / EMA_TXT]).count("updated") == 1
    other.close()
    # The library and export notice at once, before anyone opens the review queue.
    lib = env.client.get("/api/library", headers=env.auth("consultant")).json()
    assert [r["id"] for r in lib] == [from_pdf]
    r = env.client.post("/api/export", json={"ids": [from_txt]}, headers=env.auth("consultant"))
    assert r.status_code == 422 and "only approved answers" in r.json()["error"]
    queue = env.client.get("/api/review/queue", headers=env.auth("reviewer")).json()
    assert [r["id"] for r in queue] == [from_txt]
    # An admin removes Annex 11: its answer goes back too, and cannot be approved while citing it.
    docs = {d["file"]: d["document_id"] for d in env.client.get("/api/documents", headers=env.auth("admin")).json()}
    annex = docs["EC_EU-GMP-Annex11_computerised-systems_2011.pdf"]
    env.wait_job(env.client.delete(f"/api/documents/{annex}", headers=env.auth("admin")).json()["id"])
    rec = _status(env, from_pdf)
    assert rec["status"] == "needs_rereview" and rec["rereview"][0]["change"] == "removed"  # type: ignore[index]
    r = env.client.post(
        f"/api/records/{from_pdf}/approve",
        json={"version": env.version(from_pdf), "acknowledge_unsupported": True},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 409 and "no longer in the library" in r.json()["error"]
    page = env.client.get(f"/api/documents/{annex}/pages/4", headers=env.auth("reviewer"))
    assert page.status_code == 404 and "re-ingested or removed" in page.json()["error"]
