"""Client-ready exports: the consultant's order, headings and introduction, a client version without the
desk's internals, references a client can follow, and DOCX properties that name who exported it and when."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from docx import Document

from tests.conftest import DeskEnv
from tests.test_api_review import Q_PDF, Q_TXT
from tests.test_api_sources import _approve

ANNEX = "EC_EU-GMP-Annex11_computerised-systems_2011.pdf"


def _export(env: DeskEnv, **body: object) -> bytes:
    r = env.client.post("/api/export", json=body, headers=env.auth("consultant"))
    assert r.status_code == 200, r.text
    return r.content


def test_a_client_version_in_the_consultants_order_with_their_headings_and_full_references(
    desk_env: DeskEnv,
) -> None:
    env = desk_env
    pdf, txt = _approve(env, Q_PDF), _approve(env, Q_TXT)
    docs = {d["file"]: d["document_id"] for d in env.client.get("/api/documents", headers=env.auth("admin")).json()}
    # The admin marks Annex 11 as a draft and gives its address: the reference says both.
    r = env.client.patch(
        f"/api/documents/{docs[ANNEX]}",
        json={"status": "draft", "source": "https://health.ec.europa.eu/annex11"},
        headers=env.auth("admin"),
    )
    assert env.wait_job(r.json()["id"])["status"] == "done"
    started = datetime.now(UTC).replace(microsecond=0)
    data = _export(
        env,
        ids=[txt, pdf],
        format="docx",
        version="client",
        title="Response to the agency's questions",
        introduction="Dear Ms Doe,\n\nBelow are our answers, with the passages they rest on.",
        headings={pdf: "Audit trails in computerised systems"},
    )
    doc = Document(io.BytesIO(data))
    paragraphs = [p.text for p in doc.paragraphs]
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert headings == [f"1. {Q_TXT}", "2. Audit trails in computerised systems", "References"]
    assert paragraphs[:3] == [
        "Response to the agency's questions",
        "Dear Ms Doe,",
        "Below are our answers, with the passages they rest on.",
    ]
    text = "\n".join(paragraphs)
    # Nothing of the desk's internals: no approvals, no file names, no version hashes.
    assert "Approved by" not in text and ".pdf" not in text and docs[ANNEX][:12] not in text
    annex = next(p for p in paragraphs if "EU GMP Annex 11" in p and p.startswith("["))
    assert (
        annex.startswith("[") and "European Commission. EU GMP Annex 11: Computerised Systems (2011) [DRAFT]." in annex
    )
    assert "Section 9, page 4." in annex and "“Audit trails need to be available" in annex
    assert annex.endswith("Available at: https://health.ec.europa.eu/annex11")
    props = doc.core_properties
    assert props.author == "consultant1" and props.last_modified_by == "consultant1"
    assert props.title == "Response to the agency's questions"
    assert props.created is not None and abs((props.created.replace(tzinfo=UTC) - started).total_seconds()) < 120
    assert props.created.year >= 2026  # not python-docx's template date (2013)


def test_the_internal_version_keeps_approvals_and_files_and_headings_must_name_exported_answers(
    desk_env: DeskEnv,
) -> None:
    env = desk_env
    pdf = _approve(env, Q_PDF)
    md = _export(env, ids=[pdf], format="markdown").decode()
    assert "Approved by reviewer1" in md and f"## 1. {Q_PDF}" in md and f"({ANNEX}, " in md
    assert "European Commission, 2011." in md
    r = env.client.post("/api/export", json={"ids": [pdf], "headings": {"0" * 32: "x"}}, headers=env.auth("consultant"))
    assert r.status_code == 422 and r.json()["error"].startswith("headings:")
    audit = env.client.get("/api/audit", params={"limit": 500}, headers=env.auth("admin")).json()
    assert any(e["action"] == "export" and '"version": "internal"' in e["detail"] for e in audit)
