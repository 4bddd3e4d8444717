"""Uploads of Word files, web pages and scanned PDFs: the same checks as any upload, and clear per-file errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.routes.documents import DOCX_TYPE
from tests.conftest import CORPUS, DeskEnv
from tests.docxmaker import DEVIATION, make_sop_docx
from tests.scanmaker import scan_of
from tests.test_api_input import _incoming, _upload
from tests.test_ingest_formats import ANNEX11, PAGE, RISK

EMPTY_PAGE = (
    "<html><head><title>Guidance</title></head><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
    "<div class='cookie-consent'>We use cookies.</div><main></main></body></html>"
)


def _docs(env: DeskEnv) -> dict[str, dict[str, object]]:
    return {d["file"]: d for d in env.client.get("/api/documents", headers=env.auth("admin")).json()}


def test_word_web_and_scanned_uploads_are_ingested_with_their_pages(desk_env: DeskEnv) -> None:
    env = desk_env
    # The admin names the SOP; an upload's title never comes from its own text.
    sop = {"title": "SOP-QA-042 Deviation management"}
    for name, body, ctype, form in (
        ("SOP-QA-042.docx", make_sop_docx(), DOCX_TYPE, sop),
        ("contract-labs.html", PAGE.encode(), "text/html", {}),
        ("annex11-scan.pdf", scan_of(ANNEX11, 2), "application/pdf", {}),
        # The desk's corpus holds Annex 11 itself but not E6(R3): answers about E6 can only cite the scan.
        (
            "e6-page23-scan.pdf",
            scan_of((CORPUS / "ICH_E6-R3_GCP_EMA-step5_2025.pdf").read_bytes(), 23),
            "application/pdf",
            {},
        ),
    ):
        r = _upload(env, name, body, ctype, **form)
        assert r.status_code == 202, r.text  # type: ignore[attr-defined]
        job = env.wait_job(r.json()["id"])  # type: ignore[attr-defined]
        assert job["status"] == "done" and job["result"]["added"] == 1, job  # type: ignore[index]
    docs = _docs(env)
    assert docs["SOP-QA-042.docx"]["pages"] == 5 and docs["contract-labs.html"]["pages"] == 1
    doc_id = docs["SOP-QA-042.docx"]["document_id"]
    page = env.client.get(
        f"/api/documents/{doc_id}/pages/4", params={"quote": DEVIATION}, headers=env.auth("staff")
    ).json()
    assert page["text"].startswith("## 4.2 Deviations") and page["highlights"]
    assert page["label"] == "§4.2 Deviations"
    scan_id = docs["annex11-scan.pdf"]["document_id"]
    scanned = env.client.get(f"/api/documents/{scan_id}/pages/1", headers=env.auth("staff")).json()
    assert RISK in " ".join(scanned["text"].split()) and scanned["label"] == "p. 1 (OCR)"
    assert _incoming(env) == []
    # Approved answers from the Word file and from a scan export with their section, and with "(OCR)".
    ids = []
    for question, file, label in (
        (
            "Who shall record every unplanned departure from an approved procedure in the deviation log?",
            "SOP-QA-042.docx",
            "§4.2 Deviations",
        ),
        (
            "When may the investigator break the treatment randomisation code of an investigator-blinded trial?",
            "e6-page23-scan.pdf",
            "p. 1 (OCR)",
        ),
    ):
        rec = env.ask(question)
        # The desk's record names the page as the answer cited it, and so does the record read back.
        assert (rec["citations"][0]["file"], rec["citations"][0]["page_label"]) == (file, label), rec["citations"]
        again = env.client.get(f"/api/records/{rec['id']}", headers=env.auth("consultant")).json()
        assert again["citations"][0]["page_label"] == label
        r = env.client.post(
            f"/api/records/{rec['id']}/approve", json={"reason": "ok", "version": 1}, headers=env.auth("reviewer")
        )
        assert r.status_code == 200, r.text
        ids.append(rec["id"])
    md = env.client.post("/api/export", json={"ids": ids}, headers=env.auth("consultant")).text
    refs = md.split("## References", 1)[1]
    assert "SOP-QA-042 Deviation management §4.2 Deviations. “The deviation owner shall record" in refs, refs
    assert re.search(r", page 1 \(OCR\)\. “[^”]*randomisation[^”]*” \(e6-page23-scan\.pdf, ", refs), refs


def test_bad_word_web_and_scan_uploads_fail_by_name(desk_env: DeskEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    env = desk_env
    before = _docs(env)
    r = _upload(env, "old-format.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 a binary .doc", DOCX_TYPE)
    assert r.status_code == 415 and "not a Word .docx file" in r.json()["error"]  # type: ignore[attr-defined]
    r = _upload(env, "notes.docx", b"hello", "text/plain")
    assert r.status_code == 415 and "content-type: text/plain" in r.json()["error"]  # type: ignore[attr-defined]
    expected = {
        "corrupt.docx": (b"PK\x03\x04 a truncated zip", DOCX_TYPE, "corrupt.docx: corrupt or unreadable Word file"),
        "empty.html": (EMPTY_PAGE.encode(), "text/html", "empty.html: no text in the HTML body"),
    }
    for name, (body, ctype, message) in expected.items():
        r = _upload(env, name, body, ctype)
        assert r.status_code == 202  # type: ignore[attr-defined]
        job = env.wait_job(r.json()["id"])  # type: ignore[attr-defined]
        assert job["status"] == "failed" and message in str(job["error"]), job
    # An image-only PDF where Tesseract is not installed.
    monkeypatch.setenv("PATH", str(Path(env.root)))
    r = _upload(env, "scan.pdf", scan_of(ANNEX11, 2), "application/pdf")
    job = env.wait_job(r.json()["id"])  # type: ignore[attr-defined]
    assert job["status"] == "failed" and "scan.pdf: needs OCR" in str(job["error"]), job
    assert "Tesseract is missing" in str(job["error"])
    assert _docs(env) == before and _incoming(env) == []
    for name in ("corrupt.docx", "empty.html", "scan.pdf"):
        assert not (env.settings.uploads_dir / name).exists()
