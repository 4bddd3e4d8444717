"""The review desk: drafts with provenance, re-verified edits, four-eyes approval, library and export."""

from __future__ import annotations

import io
import re

from tests.conftest import DeskEnv

Q_TXT = "What should be done if test performance of an AI model is unsatisfactory?"
Q_PDF = "What is an audit trail used for in computerised systems under Annex 11?"
Q_NONE = "What is the recommended dose of paracetamol for children?"
EMA_TXT = "EMA_AI-ML-technical-expectations_summary.txt"


def test_an_answer_is_stored_as_a_draft_with_full_provenance(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_TXT, role="staff")
    assert rec["status"] == "draft" and rec["abstained"] is False
    assert "new independent test dataset is required" in rec["text"]
    first = rec["citations"][0]
    assert first["file"] == EMA_TXT and first["page"] == 1
    assert first["section"] == "Training, validation, and test data"
    detail = env.client.get(f"/api/records/{rec['id']}", headers=env.auth("staff")).json()
    docs = {d["file"]: d["document_id"] for d in env.client.get("/api/documents", headers=env.auth("staff")).json()}
    assert first["document_id"] == docs[EMA_TXT]  # the hash of the document version that was cited
    answer = detail["answer"]
    assert answer["citations"][0]["quote_start"] < answer["citations"][0]["quote_end"]
    assert answer["claims"][0]["supported"] is True and answer["claims"][0]["citations"] == [1]
    assert {"retrieval", "backend", "model", "prompt_version", "index_version", "latency_ms"} <= set(answer)
    assert detail["settings"]["support_threshold"] == 0.58 and detail["settings"]["embed_model"] == "all-MiniLM-L6-v2"
    assert detail["backend"] == "extractive" and detail["index_version"].startswith("gen")
    assert detail["asker"] == "staff1" and detail["versions"][0]["author"] == "assistant"


def test_a_refusal_says_so_plainly_and_is_stored_too(desk_env: DeskEnv) -> None:
    rec = desk_env.ask(Q_NONE, role="staff")
    assert rec["abstained"] is True and rec["abstain_reason"] == "no_evidence"
    assert rec["text"].startswith("The documents do not answer this question.")
    assert rec["citations"] == [] and rec["status"] == "draft"


def test_edit_is_versioned_with_a_diff_and_reverified_sentence_by_sentence(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_TXT)
    kept = rec["claims"][0]["text"]
    invented = "The test set may then be reused for the final claim of performance. [1]"
    r = env.client.post(
        f"/api/records/{rec['id']}/edit",
        json={"version": env.version(rec["id"]), "text": f"{kept} [1] {invented}", "note": "added a line"},
        headers=env.auth("consultant"),
    )
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["current_version"] == 2 and d["versions"][1]["author"] == "consultant1"
    assert "+The test set may then be reused" in d["versions"][1]["diff"]
    verdicts = {c["text"]: c["supported"] for c in d["claims"]}
    assert verdicts[kept] is True
    assert verdicts["The test set may then be reused for the final claim of performance."] is False
    # A changed number is caught by the hard-fact check even when the words match.
    r = env.client.post(
        f"/api/records/{rec['id']}/edit",
        json={
            "version": env.version(rec["id"]),
            "text": kept.replace("a new independent test dataset", "3 new independent test datasets") + " [1]",
        },
        headers=env.auth("consultant"),
    )
    assert r.json()["claims"][0]["supported"] is False
    # Citing a source the answer does not have is refused with the field named.
    r = env.client.post(
        f"/api/records/{rec['id']}/edit",
        json={"version": env.version(rec["id"]), "text": f"{kept} [7]"},
        headers=env.auth("consultant"),
    )
    assert r.status_code == 422 and r.json()["error"].startswith("text: cites [7]")


def test_unsupported_sentences_block_approval_until_acknowledged(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_TXT)
    env.client.post(
        f"/api/records/{rec['id']}/edit",
        json={"version": env.version(rec["id"]), "text": "The EMA requires a test set of 10,000 cases. [1]"},
        headers=env.auth("consultant"),
    )
    r = env.client.post(
        f"/api/records/{rec['id']}/approve",
        json={"version": env.version(rec["id"]), "reason": "ok"},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 409 and "not supported by their citations" in r.json()["error"]
    assert "10,000 cases" in r.json()["error"]
    r = env.client.post(
        f"/api/records/{rec['id']}/approve",
        json={"version": env.version(rec["id"]), "reason": "checked by hand", "acknowledge_unsupported": True},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert r.json()["reviews"][0]["documents"][0]["file"] == EMA_TXT


def test_four_eyes_nobody_approves_their_own_question_or_edit(desk_env: DeskEnv) -> None:
    env = desk_env
    own = env.ask(Q_TXT, role="reviewer")
    r = env.client.post(
        f"/api/records/{own['id']}/approve", json={"version": env.version(own["id"])}, headers=env.auth("reviewer")
    )
    assert r.status_code == 403 and "four eyes" in r.json()["error"]
    other = env.add_user("reviewer2", "reviewer")
    assert (
        env.client.post(
            f"/api/records/{own['id']}/approve", json={"version": env.version(own["id"])}, headers=other
        ).status_code
        == 200
    )
    edited = env.ask(Q_PDF)
    text = edited["claims"][0]["text"] + " [1]"
    assert (
        env.client.post(
            f"/api/records/{edited['id']}/edit",
            json={"version": env.version(edited["id"]), "text": text},
            headers=other,
        ).status_code
        == 200
    )
    assert (
        env.client.post(
            f"/api/records/{edited['id']}/approve", json={"version": env.version(edited["id"])}, headers=other
        ).status_code
        == 403
    )
    assert (
        env.client.post(
            f"/api/records/{edited['id']}/approve",
            json={"version": env.version(edited["id"])},
            headers=env.auth("reviewer"),
        ).status_code
        == 200
    )


def test_reject_needs_a_reason_and_decisions_follow_the_state(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_PDF)
    r = env.client.post(
        f"/api/records/{rec['id']}/reject",
        json={"version": env.version(rec["id"]), "reason": ""},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 422 and r.json()["error"].startswith("reason:")
    r = env.client.post(
        f"/api/records/{rec['id']}/reject",
        json={"version": env.version(rec["id"]), "reason": "cites the wrong section"},
        headers=env.auth("reviewer"),
    )
    assert r.json()["status"] == "rejected" and r.json()["reviews"][0]["reason"] == "cites the wrong section"
    r = env.client.post(
        f"/api/records/{rec['id']}/approve", json={"version": env.version(rec["id"])}, headers=env.auth("reviewer")
    )
    assert r.status_code == 409
    # Editing a rejected answer sends it back to review.
    text = rec["claims"][0]["text"] + " [1]"
    r = env.client.post(
        f"/api/records/{rec['id']}/edit",
        json={"version": env.version(rec["id"]), "text": text},
        headers=env.auth("consultant"),
    )
    assert r.json()["status"] == "draft"
    assert env.client.get("/api/review/queue", headers=env.auth("reviewer")).json()[0]["id"] == rec["id"]


def _approved(env: DeskEnv, question: str) -> dict[str, object]:
    rec = env.ask(question)
    r = env.client.post(
        f"/api/records/{rec['id']}/approve",
        json={"version": env.version(rec["id"]), "reason": "ok"},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 200, r.text
    return rec


def test_library_search_and_export_with_numbered_references(desk_env: DeskEnv) -> None:
    env = desk_env
    a = _approved(env, Q_TXT)
    b = _approved(env, Q_PDF)
    draft = env.ask(Q_PDF)
    lib = env.client.get("/api/library", params={"q": "audit trail"}, headers=env.auth("staff")).json()
    assert [r["id"] for r in lib] == [b["id"]]
    assert draft["id"] not in [r["id"] for r in env.client.get("/api/library", headers=env.auth("staff")).json()]

    r = env.client.post("/api/export", json={"ids": [a["id"], b["id"]]}, headers=env.auth("consultant"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    md = r.text
    assert f"## 1. {Q_TXT}" in md and f"## 2. {Q_PDF}" in md
    refs = md.split("## References", 1)[1]
    assert re.search(
        r"^1\. Technical Aspects of AI/ML for Medicines.*, section Training, validation, and test data, page 1\. “",
        refs,
        re.M,
    )
    assert re.search(
        r"^\d\. EU GMP Annex 11: Computerised Systems, section 9, page 4\. “Audit trails need to be available",
        refs,
        re.M,
    )
    assert "Approved by reviewer1" in md
    # The second answer's markers are renumbered to the shared list.
    second = md.split(f"## 2. {Q_PDF}", 1)[1].split("## References")[0]
    assert re.search(r"\[[2-9]\]", second)

    r = env.client.post(
        "/api/export", json={"ids": [a["id"], b["id"]], "format": "docx"}, headers=env.auth("consultant")
    )
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    from docx import Document

    doc = Document(io.BytesIO(r.content))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert Q_TXT in text and "References" in text
    assert re.search(r"\[1\] Technical Aspects of AI/ML for Medicines.*page 1\. “", text)

    r = env.client.post("/api/export", json={"ids": [draft["id"]]}, headers=env.auth("consultant"))
    assert r.status_code == 422 and "only approved answers" in r.json()["error"]


def test_an_edit_landing_between_reading_a_record_and_its_versions_is_a_conflict(desk_env: DeskEnv) -> None:
    """SQLite reads outside a transaction each see the newest commit: a record's row can say version 1
    while its versions, read a moment later, already hold another reviewer's version 2. Seen under load
    in the two-editors race (a 422 "unchanged" instead of the 409 the loser must get)."""
    import pytest
    from sqlalchemy import select

    from api import records
    from api.auth import Principal
    from api.errors import Conflict
    from api.models import Record

    env = desk_env
    rec = env.ask(Q_TXT)
    text = f"{rec['claims'][0]['text']} [1]"  # type: ignore[index]
    me = env.client.get("/api/me", headers=env.auth("reviewer")).json()
    who = Principal(me["id"], me["name"], "reviewer", "")
    with env.desk.db.sessions() as session:
        record = session.scalars(select(Record).where(Record.id == rec["id"])).one()
        assert record.current_version == 1
        # Another reviewer's edit lands after the row was read and before the versions are.
        r = env.client.post(
            f"/api/records/{rec['id']}/edit",
            json={"text": text, "note": "first", "version": 1},
            headers=env.auth("reviewer"),
        )
        assert r.status_code == 200, r.text
        with pytest.raises(Conflict, match="version 2 is current"):
            records.edit(env.desk.db, session, who, record, text, "second", env.desk.assistant.verifier, 1)
