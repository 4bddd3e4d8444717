"""Conversations: a follow-up is read in its thread, a move to another regulator is said, and each person's
threads are listed, searched, renamed and deleted (softly, audited) under the same role rules as records."""

from __future__ import annotations

from tests.conftest import DeskEnv

ANNEX11 = "EC_EU-GMP-Annex11_computerised-systems_2011.pdf"
PART11 = "FDA_guidance_Part11-electronic-records-signatures-scope-application_2003.pdf"
Q_AUDIT = "What does Annex 11 say about audit trails?"


def _ask(env: DeskEnv, question: str, conversation: object = None, role: str = "staff") -> dict[str, object]:
    body: dict[str, object] = {"question": question}
    if conversation is not None:
        body["conversation_id"] = conversation
    r = env.client.post("/api/ask", json=body, headers=env.auth(role))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _files(rec: dict[str, object]) -> set[str]:
    return {str(c["file"]) for c in rec["citations"]}  # type: ignore[attr-defined, index]


def test_a_follow_up_is_answered_from_the_documents_of_the_turn_before(desk_env: DeskEnv) -> None:
    env = desk_env
    first = _ask(env, "Under Annex 11, how should electronic records be protected against damage?")
    assert first["turn"] == 1 and ANNEX11 in _files(first)
    # Alone, the follow-up says too little to find anything: it is refused.
    alone = _ask(env, "How often should backups be checked?")
    assert alone["abstained"] is True and alone["turn"] == 1 and alone["conversation_id"] != first["conversation_id"]
    follow = _ask(env, "How often should backups be checked?", first["conversation_id"])
    assert follow["conversation_id"] == first["conversation_id"] and follow["turn"] == 2
    assert follow["abstained"] is False and _files(follow) == {ANNEX11}
    assert "monitored periodically" in str(follow["text"])
    context = follow["context"]
    assert isinstance(context, dict) and context["follow_up"] is True
    assert "Annex" in context["carried_terms"] and "damage" in context["query"]
    assert not any("previous answer" in w for w in follow["warnings"])  # type: ignore[attr-defined]


def test_a_follow_up_that_moves_to_another_regulator_says_so(desk_env: DeskEnv) -> None:
    env = desk_env
    first = _ask(env, Q_AUDIT)
    assert ANNEX11 in _files(first)
    moved = _ask(env, "And what does the FDA expect on this?", first["conversation_id"])
    assert moved["abstained"] is False and _files(moved) == {PART11}
    assert "audit trail" in str(moved["text"]).lower()  # the subject was carried
    warnings = moved["warnings"]
    assert isinstance(warnings, list)
    assert warnings[0] == (
        "This answer draws on FDA documents; the previous answer in this conversation was about "
        "European Commission documents."
    )
    assert moved["context"]["switched_to"] == ["FDA"]  # type: ignore[index]
    # A new, self-contained question in the same conversation is not bent by the one before.
    fresh = _ask(
        env, "What should be done if test performance of an AI model is unsatisfactory?", first["conversation_id"]
    )
    assert fresh["turn"] == 3 and fresh["context"] == {"follow_up": False, "query": fresh["question"]}
    assert "new independent test dataset is required" in str(fresh["text"])


def test_the_sidebar_lists_searches_renames_and_deletes_a_persons_conversations(desk_env: DeskEnv) -> None:
    env = desk_env
    staff = env.auth("staff")
    a = _ask(env, Q_AUDIT)
    _ask(env, "How often should they be reviewed?", a["conversation_id"])
    b = _ask(env, "What should be done if test performance of an AI model is unsatisfactory?")
    listed = env.client.get("/api/conversations", headers=staff).json()
    assert [c["id"] for c in listed] == [b["conversation_id"], a["conversation_id"]]  # newest activity first
    top = listed[1]
    assert (
        top["title"] == Q_AUDIT and top["turns"] == 2 and top["last_question"] == "How often should they be reviewed?"
    )
    assert top["preview"].startswith("Audit trails need to be available") and top["created_at"] <= top["updated_at"]
    # Search finds a conversation by any of its questions, not only by its title.
    found = env.client.get("/api/conversations", params={"q": "often reviewed"}, headers=staff).json()
    assert [c["id"] for c in found] == [a["conversation_id"]]
    one = env.client.get(f"/api/conversations/{a['conversation_id']}", headers=staff).json()
    assert [r["turn"] for r in one["records"]] == [1, 2] and one["records"][0]["id"] == a["id"]

    r = env.client.patch(
        f"/api/conversations/{a['conversation_id']}", json={"title": "Audit trails: EU"}, headers=staff
    )
    assert r.status_code == 200 and r.json()["title"] == "Audit trails: EU"
    r = env.client.patch(f"/api/conversations/{a['conversation_id']}", json={"title": "   "}, headers=staff)
    assert r.status_code == 422 and r.json()["error"] == "title: a conversation needs a title"

    r = env.client.delete(f"/api/conversations/{a['conversation_id']}", headers=staff)
    assert r.status_code == 204
    assert [c["id"] for c in env.client.get("/api/conversations", headers=staff).json()] == [b["conversation_id"]]
    assert env.client.get(f"/api/conversations/{a['conversation_id']}", headers=staff).status_code == 404
    r = env.client.post(
        "/api/ask", json={"question": "And for paper?", "conversation_id": a["conversation_id"]}, headers=staff
    )
    assert r.status_code == 404
    # Its answers stay for the review desk and the audit trail, which records the rename and the deletion.
    assert env.client.get(f"/api/records/{a['id']}", headers=env.auth("reviewer")).status_code == 200
    audit = env.client.get("/api/audit", params={"limit": 500}, headers=env.auth("admin")).json()
    actions = [(e["action"], e["target"]) for e in audit]
    assert ("conversation.rename", a["conversation_id"]) in actions
    assert ("conversation.delete", a["conversation_id"]) in actions
    assert env.client.get("/api/audit/verify", headers=env.auth("admin")).json()["ok"] is True


def test_conversations_are_per_user_under_the_records_role_rules(desk_env: DeskEnv) -> None:
    env = desk_env
    a = _ask(env, Q_AUDIT, role="staff")
    other = env.add_user("staff-two", "staff")
    cid = a["conversation_id"]
    assert env.client.get("/api/conversations", headers=other).json() == []
    assert env.client.get(f"/api/conversations/{cid}", headers=other).status_code == 404
    # Nobody adds a turn to, renames or deletes someone else's conversation; it reads as absent.
    r = env.client.post("/api/ask", json={"question": "And for paper?", "conversation_id": cid}, headers=other)
    assert r.status_code == 404
    assert env.client.patch(f"/api/conversations/{cid}", json={"title": "x"}, headers=other).status_code == 404
    assert env.client.delete(f"/api/conversations/{cid}", headers=other).status_code == 404
    # A reviewer reads it, as they read any record, but it is not theirs to continue or delete.
    reviewer = env.auth("reviewer")
    assert env.client.get(f"/api/conversations/{cid}", headers=reviewer).json()["records"][0]["id"] == a["id"]
    assert env.client.delete(f"/api/conversations/{cid}", headers=reviewer).status_code == 404
    assert env.client.get(f"/api/conversations/{cid}", headers=env.auth("staff")).status_code == 200


def test_questions_limited_to_chosen_documents_stay_within_them_follow_ups_included(desk_env: DeskEnv) -> None:
    """From the chat a person limits the search to the documents they chose: the answer and its follow-up
    cite only those, a follow-up naming another regulator included; an unknown document is refused by name."""
    env = desk_env
    docs = {d["file"]: d["document_id"] for d in env.client.get("/api/documents", headers=env.auth("staff")).json()}
    only = {"document_id": [docs[PART11]]}
    r = env.client.post(
        "/api/ask",
        json={"question": "What do audit trails have to record?", "filters": only},
        headers=env.auth("staff"),
    )
    first = r.json()
    assert r.status_code == 200 and first["citations"] and _files(first) == {PART11}
    body = {"question": "And what does Annex 11 expect?", "filters": only, "conversation_id": first["conversation_id"]}
    follow = env.client.post("/api/ask", json=body, headers=env.auth("staff")).json()
    assert ANNEX11 not in _files(follow)
    # Without the limit, a question on Annex 11 is answered from it.
    free = _ask(env, "What does Annex 11 expect of audit trails?")
    assert ANNEX11 in _files(free)
    r = env.client.post(
        "/api/ask",
        json={"question": "What do audit trails record?", "filters": {"document_id": ["0123456789abcdef01234567"]}},
        headers=env.auth("staff"),
    )
    assert r.status_code == 422 and r.json()["error"].startswith("filters.document_id: no document")
