"""Bad input and abuse: oversized and mistyped uploads, malformed JSON, long questions, the rate limit,
corrupt files; and a long ingest that does not hold up questions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.conftest import CORPUS, DeskEnv
from tests.test_api_review import Q_TXT


def _upload(env: DeskEnv, name: str, body: bytes | Iterator[bytes], ctype: str, **params: str) -> object:
    return env.client.post(
        "/api/documents",
        params={"filename": name, **params},
        content=body,
        headers={**env.auth("admin"), "content-type": ctype},
    )


def _incoming(env: DeskEnv) -> list[Path]:
    return [p for p in (env.settings.uploads_dir / ".incoming").rglob("*") if p.is_file()]


def test_oversized_uploads_are_refused_with_413_before_being_read_whole(make_desk: object) -> None:
    env: DeskEnv = make_desk(max_upload_bytes=10_000)  # type: ignore[operator]
    r = _upload(env, "big.txt", b"x" * 10_001, "text/plain")
    assert r.status_code == 413 and "big.txt" in r.json()["error"]  # type: ignore[attr-defined]
    # Without a Content-Length (chunked), the stream is cut off once it passes the limit.
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b"y" * 4096

    r = _upload(env, "stream.txt", chunks(), "text/plain")
    assert r.status_code == 413  # type: ignore[attr-defined]
    assert _incoming(env) == [] and not (env.settings.uploads_dir / "stream.txt").exists()
    assert "stream.txt" not in [d["file"] for d in env.client.get("/api/documents", headers=env.auth("admin")).json()]


def test_wrong_types_are_415_and_bad_names_422(desk_env: DeskEnv) -> None:
    env = desk_env
    r = _upload(env, "scan.pdf", b"\x89PNG\r\n\x1a\n....", "application/pdf")
    assert r.status_code == 415 and "not a PDF" in r.json()["error"]  # type: ignore[attr-defined]
    r = _upload(env, "notes.txt", b"hello", "image/png")
    assert r.status_code == 415 and "content-type: image/png" in r.json()["error"]  # type: ignore[attr-defined]
    r = _upload(env, "photo.png", b"hello", "image/png")
    assert r.status_code == 422 and r.json()["error"].startswith("filename:")  # type: ignore[attr-defined]
    r = _upload(env, "../../etc/passwd.txt", b"hello", "text/plain")
    assert r.status_code == 422 and r.json()["error"].startswith("filename:")  # type: ignore[attr-defined]
    assert _incoming(env) == []


def test_malformed_json_and_bad_fields_are_422_naming_the_field(desk_env: DeskEnv) -> None:
    env = desk_env
    h = {**env.auth("staff"), "content-type": "application/json"}
    r = env.client.post("/api/ask", content=b'{"question": "What is', headers=h)
    assert r.status_code == 422 and r.json()["error"].startswith("body: malformed JSON at character")
    r = env.client.post("/api/ask", json={"question": 42}, headers=env.auth("staff"))
    assert r.status_code == 422 and r.json()["error"] == "question: Input should be a valid string"
    r = env.client.post("/api/ask", json={"question": "x", "filters": {"year_min": "soon"}}, headers=env.auth("staff"))
    assert r.status_code == 422 and r.json()["error"].startswith("filters.year_min:")
    r = env.client.post("/api/ask", json={"question": "x", "colour": "red"}, headers=env.auth("staff"))
    assert r.status_code == 422 and r.json()["error"].startswith("colour:")
    r = env.client.post("/api/users", json={"name": "a", "role": "emperor"}, headers=env.auth("admin"))
    assert r.status_code == 422 and r.json()["error"].startswith("role:")


def test_question_length_is_bounded(desk_env: DeskEnv) -> None:
    env = desk_env
    r = env.client.post("/api/ask", json={"question": "why " * 501}, headers=env.auth("staff"))
    assert r.status_code == 422 and r.json()["error"] == "question: String should have at most 2000 characters"
    r = env.client.post("/api/ask", json={"question": "   "}, headers=env.auth("staff"))
    assert r.status_code == 422 and r.json()["error"] == "question: must not be empty"
    r = env.client.post("/api/ask/stream", json={"question": "   "}, headers=env.auth("staff"))
    assert r.status_code == 422


def test_the_rate_limit_is_per_token(make_desk: object) -> None:
    env: DeskEnv = make_desk(rate_limit="5/minute", rate_limit_enabled=True)  # type: ignore[operator]
    codes = [env.client.get("/api/me", headers=env.auth("staff")).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = env.client.get("/api/me", headers=env.auth("staff"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "rate limit" in r.json()["error"]
    assert env.client.get("/api/me", headers=env.auth("consultant")).status_code == 200


def test_a_corrupt_pdf_fails_its_job_by_name_and_changes_nothing(desk_env: DeskEnv) -> None:
    env = desk_env
    before = env.client.get("/api/documents", headers=env.auth("admin")).json()
    r = _upload(env, "broken.pdf", b"%PDF-1.7\n this is not really a pdf \n%%EOF", "application/pdf")
    job = env.wait_job(r.json()["id"])  # type: ignore[attr-defined]
    assert job["status"] == "failed" and "broken.pdf" in str(job["error"])
    assert env.client.get("/api/documents", headers=env.auth("admin")).json() == before
    assert not (env.settings.uploads_dir / "broken.pdf").exists() and _incoming(env) == []


def test_an_upload_is_ingested_in_the_background_and_questions_go_on_meanwhile(desk_env: DeskEnv) -> None:
    env = desk_env
    big = (CORPUS / "ICH_E6-R3_GCP_EMA-step5_2025.pdf").read_bytes()  # 71 pages: about half a minute of ingest
    r = _upload(env, "ICH_E6-R3_GCP_EMA-step5_2025.pdf", big, "application/pdf", issuing_body="ICH", status="final")
    assert r.status_code == 202  # type: ignore[attr-defined]
    job_id = r.json()["id"]  # type: ignore[attr-defined]
    answered = env.ask(Q_TXT, role="staff")
    running = env.client.get(f"/api/jobs/{job_id}", headers=env.auth("admin")).json()
    assert answered["abstained"] is False
    assert running["status"] in ("queued", "running"), "the question waited for the ingest"
    job = env.wait_job(job_id)
    assert job["status"] == "done" and job["result"]["added"] == 1  # type: ignore[index]
    doc = next(
        d for d in env.client.get("/api/documents", headers=env.auth("admin")).json() if d["file"].startswith("ICH")
    )
    assert doc["issuing_body"] == "ICH" and doc["pages"] == 71
    rec = env.ask("What is the sponsor responsible for regarding investigator selection in ICH E6?", role="staff")
    assert any(c["file"].startswith("ICH_E6") for c in rec["citations"])  # type: ignore[union-attr]
