"""An admin corrects what the catalog says about a document: the edit reaches answers, filters and the
audit log, and outlives re-uploads and re-ingests of the file (whose manifest says otherwise)."""

from __future__ import annotations

import json

from assistant.retrieval import Filters, HybridSearcher, RetrievalConfig
from tests.conftest import DeskEnv
from tests.test_api_review import EMA_TXT, Q_TXT

ANNEX11 = "EC_EU-GMP-Annex11_computerised-systems_2011.pdf"
PART11 = "FDA_guidance_Part11-electronic-records-signatures-scope-application_2003.pdf"
TITLE = "Technical expectations for AI/ML in medicines (EMA summary)"


def _doc(env: DeskEnv, file: str) -> dict[str, object]:
    docs = env.client.get("/api/documents", headers=env.auth("staff")).json()
    return next(d for d in docs if d["file"] == file)  # type: ignore[no-any-return]


def _edit(env: DeskEnv, file: str, fields: dict[str, object]) -> dict[str, object]:
    r = env.client.patch(f"/api/documents/{_doc(env, file)['document_id']}", json=fields, headers=env.auth("admin"))
    assert r.status_code == 202, r.text
    return env.wait_job(str(r.json()["id"]))


def test_an_admins_correction_reaches_answers_filters_and_the_audit_log(desk_env: DeskEnv) -> None:
    env = desk_env
    before = _doc(env, EMA_TXT)
    assert before["issuing_body"] == "Training site"
    job = _edit(env, EMA_TXT, {"title": TITLE, "issuing_body": "EMA", "year": 2024, "source": "https://example.org/x"})
    assert job["status"] == "done" and job["result"]["updated"] == 1  # type: ignore[index]
    after = _doc(env, EMA_TXT)
    assert (after["title"], after["issuing_body"], after["year"], after["source"]) == (
        TITLE,
        "EMA",
        2024,
        "https://example.org/x",
    )
    assert after["document_id"] == before["document_id"] and after["chunks"] == before["chunks"]
    assert after["edited"] == ["issuing_body", "source", "title", "year"]
    # New answers cite it by its corrected title.
    rec = env.ask(Q_TXT, "staff")
    assert TITLE in [c["title"] for c in rec["citations"]]  # type: ignore[attr-defined]
    # Both halves of the search filter on the corrected issuing body: Chroma's metadata and the catalog's.
    stored = env.desk.index.vectors.collection.get(where={"document_id": str(after["document_id"])})
    assert {m["issuing_body"] for m in stored["metadatas"]} == {"EMA"}
    searcher = HybridSearcher(env.desk.index, RetrievalConfig(k=5))
    hits = searcher.search("What if test performance is unsatisfactory?", Filters(issuing_body=("EMA",)))
    assert hits and {e.chunk.file for e in hits} == {EMA_TXT}
    assert not searcher.search("What if test performance is unsatisfactory?", Filters(issuing_body=("Training site",)))
    # Audited with what it was and what it became.
    audit = env.client.get("/api/audit", params={"limit": 500}, headers=env.auth("admin")).json()
    (entry,) = [e for e in audit if e["action"] == "document.edit"]
    detail = json.loads(entry["detail"])
    assert entry["target"] == EMA_TXT and detail["before"]["issuing_body"] == "Training site"
    assert detail["after"]["title"] == TITLE
    assert env.client.get("/api/audit/verify", headers=env.auth("admin")).json()["ok"] is True


def test_the_correction_outlives_a_re_upload_and_a_re_ingest_of_the_folder(desk_env: DeskEnv) -> None:
    env = desk_env
    _edit(env, EMA_TXT, {"title": TITLE, "status": "superseded"})
    # The manifest still says the old title and "final"; the folder is re-ingested after a change to the file.
    manifest = json.loads((env.corpus / "manifest.json").read_text())
    assert any(d["file"] == EMA_TXT and d["title"] != TITLE for d in manifest["documents"])
    text = (env.corpus / EMA_TXT).read_text()
    (env.corpus / EMA_TXT).write_text(text + "\nA closing sentence added in a later revision.\n")
    from ingest.pipeline import Index

    other = Index(env.desk.index.settings, env.desk.index.embedder)
    assert other.ingest([env.corpus]).count("updated") == 1
    other.close()
    doc = _doc(env, EMA_TXT)
    assert (doc["title"], doc["status"]) == (TITLE, "superseded")
    # An upload of another version without the form's fields keeps them too; one with a field changes it.
    r = env.client.post(
        "/api/documents",
        params={"filename": EMA_TXT},
        content=(text + "\nAnother revision.\n").encode(),
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    assert env.wait_job(str(r.json()["id"]))["status"] == "done"
    assert (_doc(env, EMA_TXT)["title"], _doc(env, EMA_TXT)["status"]) == (TITLE, "superseded")
    r = env.client.post(
        "/api/documents",
        params={"filename": EMA_TXT, "status": "final"},
        content=(text + "\nA third revision.\n").encode(),
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    assert env.wait_job(str(r.json()["id"]))["status"] == "done"
    assert (_doc(env, EMA_TXT)["title"], _doc(env, EMA_TXT)["status"]) == (TITLE, "final")


def test_bad_edits_are_refused_naming_the_field_and_change_nothing(desk_env: DeskEnv) -> None:
    env = desk_env
    doc = _doc(env, EMA_TXT)
    url = f"/api/documents/{doc['document_id']}"
    for body, says in [
        ({"year": 3000}, "year"),
        ({"title": "   "}, "title"),
        ({"colour": "red"}, "colour"),
        ({"status": "obsolete"}, "status"),
        ({}, "Nothing to change"),
        ({"title": None}, "title: give a value"),
    ]:
        r = env.client.patch(url, json=body, headers=env.auth("admin"))
        assert r.status_code == 422 and says in r.json()["error"], (body, r.text)
    assert env.client.patch(url, json={"title": "x"}, headers=env.auth("reviewer")).status_code == 403
    assert _doc(env, EMA_TXT) == doc
    # A file changed on disk since it was indexed cannot be indexed again as that version: refused, unchanged.
    pdf = "EC_EU-GMP-Annex11_computerised-systems_2011.pdf"
    annex = _doc(env, pdf)
    (env.corpus / pdf).write_bytes((env.corpus / pdf).read_bytes() + b"\n")
    r = env.client.patch(f"/api/documents/{annex['document_id']}", json={"title": "x"}, headers=env.auth("admin"))
    assert r.status_code == 409 and pdf in r.json()["error"]
    assert _doc(env, pdf) == annex and env.desk.index.catalog.edits_for(pdf) == {}


def test_evaluation_runs_are_pinned_to_the_bundled_corpus_versions(desk_env: DeskEnv) -> None:
    """An upload does not move the benchmark: a run searches the bundled documents only, version by version,
    and refuses to run when a bundled document is indexed as another version, naming it."""
    import pytest

    from evals.runner import pinned_corpus
    from ingest.errors import RegassistError

    env = desk_env
    before = pinned_corpus(env.corpus, env.desk.index.catalog)
    # The three bundled files of the desk's corpus folder, each at the version indexed.
    assert set(before) == {EMA_TXT, "EC_EU-GMP-Annex11_computerised-systems_2011.pdf", PART11}
    assert all(before[f] == _doc(env, f)["document_id"] for f in before)
    r = env.client.post(
        "/api/documents",
        params={"filename": "new-sop.txt"},
        content=b"Audit trails are reviewed every week by the QA lead.",
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    assert env.wait_job(str(r.json()["id"]))["status"] == "done"
    assert pinned_corpus(env.corpus, env.desk.index.catalog) == before  # the upload is not in it
    text = (env.corpus / EMA_TXT).read_text()
    r = env.client.post(
        "/api/documents",
        params={"filename": EMA_TXT},
        content=(text + "\nChanged.\n").encode(),
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    assert env.wait_job(str(r.json()["id"]))["status"] == "done"
    with pytest.raises(RegassistError, match=f"{EMA_TXT} as bundled.*another version"):
        pinned_corpus(env.corpus, env.desk.index.catalog)


def test_a_pinned_run_scores_passages_as_if_no_upload_had_happened(desk_env: DeskEnv) -> None:
    """The pin is a snapshot, not a filter: an upload that floods the index with the question's words moves
    the live index's BM25 statistics (document frequencies, average length), and a pinned view's search, its
    scores and a whole pinned run's answers stay exactly as they were."""
    import pytest

    from evals.questions import Gold, Question
    from evals.runner import pinned_corpus, run_set
    from ingest.pipeline import Index

    env = desk_env
    index, live_assistant = env.desk.index, env.desk.assistant
    question = "How often are the audit trails reviewed, and who reviews them?"
    pins = pinned_corpus(env.corpus, index.catalog)
    only = Filters(document_id=tuple(pins.values()))
    questions = [
        Question("pin-1", question, True, "", (Gold(PART11, 1, "audit trail"),), (), "lookup"),
        Question(
            "pin-2", "What does Annex 11 require of audit trails?", True, "", (Gold(ANNEX11, 2, "audit"),), (), "lookup"
        ),
    ]

    Found = list[tuple[tuple[str, ...], float, float]]

    def search(searched: Index, filters: Filters | None = None) -> Found:
        found = HybridSearcher(searched, RetrievalConfig(fusion="convex")).search(question, filters)
        return [
            (tuple(c.chunk_id for c in e.chunks), round(e.dense_score, 6), round(e.lexical_score, 6)) for e in found
        ]

    def pinned_search(tmp: str) -> Found:
        return search(index.pinned(set(pins.values()), env.root / tmp))

    def live_search() -> Found:
        return search(index, only)

    set_path = env.root / "pin.jsonl"
    set_path.write_text("\n".join(q.question for q in questions))  # the run records the set's hash

    def run() -> list[dict[str, object]]:
        records = run_set(live_assistant, questions, set_path, resamples=10, pinned=pins).records
        return [{k: v for k, v in r.items() if k != "latency_ms"} for r in records]

    view_before, live_before, run_before = pinned_search("pin-a"), live_search(), run()
    flood = "\n".join(f"Audit trails are reviewed every week by the QA lead, says procedure {i}." for i in range(400))
    r = env.client.post(
        "/api/documents",
        params={"filename": "audit-trail-sop.txt"},
        content=flood.encode(),
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    assert env.wait_job(str(r.json()["id"]))["status"] == "done"
    assert live_search() != live_before  # filtering the live index by document id still moves its scores
    assert pinned_search("pin-b") == view_before
    assert run() == run_before

    view = index.pinned(set(pins.values()), env.root / "pin-c")
    assert {d["file"] for d in view.catalog.documents()} == set(pins)
    assert "audit-trail-sop.txt" in {d["file"] for d in index.catalog.documents()}
    with pytest.raises(PermissionError, match="read-only"):
        view.remove(pins[PART11])
    assert index.catalog.document(pins[PART11]) is not None
