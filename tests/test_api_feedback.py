"""Thumbs up or down on an answer: a thumbs down says why, a second rating replaces the first, reviewers
read every reader's, evaluators count them, and each rating is audited."""

from __future__ import annotations

import json
import re

from tests.conftest import DeskEnv
from tests.test_api_review import Q_PDF


def test_ratings_are_given_replaced_read_by_reviewers_and_counted(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_PDF, "staff")
    url = f"/api/records/{rec['id']}/feedback"
    r = env.client.put(url, json={"helpful": False}, headers=env.auth("staff"))
    assert r.status_code == 422 and r.json()["error"].startswith("reason: say what was wrong")
    r = env.client.put(url, json={"helpful": False, "reason": "Misses the retention period"}, headers=env.auth("staff"))
    assert r.status_code == 200 and r.json()["unhelpful"] == 1
    assert [(f["user"], f["helpful"]) for f in r.json()["feedback"]] == [("staff1", False)]
    # Someone else's answer is not theirs to rate; a reviewer may rate any, and sees every rating.
    assert env.client.put(url, json={"helpful": True}, headers=env.auth("consultant")).status_code == 404
    r = env.client.put(url, json={"helpful": True}, headers=env.auth("reviewer"))
    assert r.status_code == 200 and (r.json()["helpful"], r.json()["unhelpful"]) == (1, 1)
    assert {f["user"] for f in r.json()["feedback"]} == {"staff1", "reviewer1"}
    # The asker's second rating replaces the first; they see only their own.
    r = env.client.put(url, json={"helpful": True, "reason": "Fine after all"}, headers=env.auth("staff"))
    assert (r.json()["helpful"], r.json()["unhelpful"]) == (2, 0)
    assert [f["user"] for f in r.json()["feedback"]] == ["staff1"]
    summary = env.client.get("/api/feedback", headers=env.auth("evaluator")).json()
    assert (summary["helpful"], summary["unhelpful"], summary["answers_rated"]) == (2, 0, 1)
    assert summary["recent_unhelpful"] == []
    audit = env.client.get("/api/audit", params={"limit": 500}, headers=env.auth("admin")).json()
    rated = [json.loads(e["detail"]) for e in audit if e["action"] == "feedback"]
    assert len(rated) == 4 - 1  # the refused one is not a rating
    assert {"helpful": False, "reason": "Misses the retention period", "version": 1} in rated


def test_library_readers_open_and_rate_anyones_approved_answer_and_only_read_it(desk_env: DeskEnv) -> None:
    """The library lists every approved answer; anyone who reads it can open one, its cited page, and rate
    it. They see what was approved and its approval, not the drafts before it, and reading gives no write:
    another consultant cannot edit it, and once it goes back to review it is no longer theirs to open."""
    env = desk_env
    rec = env.ask(Q_PDF)  # consultant1's
    rid = str(rec["id"])
    n = rec["citations"][0]["n"]  # type: ignore[index]
    first_sentence = re.split(r"(?<=\])\s+", str(rec["text"]))[0]
    assert first_sentence != rec["text"]
    r = env.client.post(
        f"/api/records/{rid}/edit",
        json={"text": first_sentence, "note": "the first sentence answers it", "version": 1},
        headers=env.auth("consultant"),
    )
    assert r.status_code == 200, r.text
    draft_text = str(r.json()["text"])
    other = env.add_user("consultant2", "consultant")
    # A draft is its asker's and the reviewers': to anyone else it does not exist.
    for who in (env.auth("staff"), other):
        assert env.client.get(f"/api/records/{rid}", headers=who).status_code == 404
        assert env.client.get(f"/api/records/{rid}/citations/{n}/page", headers=who).status_code == 404
    r = env.client.post(
        f"/api/records/{rid}/approve",
        json={"reason": "checked against Part 11", "acknowledge_unsupported": True, "version": env.version(rid)},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    listed = env.client.get("/api/library", headers=env.auth("staff")).json()
    assert rid in {x["id"] for x in listed}

    r = env.client.get(f"/api/records/{rid}", headers=env.auth("staff"))
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["text"] == draft_text and seen["status"] == "approved"
    assert [v["version"] for v in seen["versions"]] == [2] and seen["versions"][0]["diff"] == ""
    assert [(x["decision"], x["version"]) for x in seen["reviews"]] == [("approved", 2)]
    assert seen["answer"] == {} and rec["text"] not in json.dumps(seen)  # not the assistant's unedited draft
    # The asker still sees the whole history.
    mine = env.client.get(f"/api/records/{rid}", headers=env.auth("consultant")).json()
    assert [v["version"] for v in mine["versions"]] == [1, 2]
    page = env.client.get(f"/api/records/{rid}/citations/{n}/page", headers=env.auth("staff"))
    assert page.status_code == 200 and page.json()["highlights"], page.text
    r = env.client.put(
        f"/api/records/{rid}/feedback", json={"helpful": False, "reason": "Too short for a client"}, headers=other
    )
    assert r.status_code == 200 and r.json()["unhelpful"] == 1
    assert [f["user"] for f in r.json()["feedback"]] == ["consultant2"]
    reviewer_view = env.client.get(f"/api/records/{rid}", headers=env.auth("reviewer")).json()
    assert {f["user"] for f in reviewer_view["feedback"]} == {"consultant2"}

    # Reading is not writing: another consultant's edit of it is refused as if it did not exist.
    r = env.client.post(
        f"/api/records/{rid}/edit", json={"text": "Rewritten.", "note": "", "version": 2}, headers=other
    )
    assert r.status_code == 404 and env.version(rid) == 2
    # A reviewer's edit sends it back to review: it leaves the library, and other readers lose it.
    r = env.client.post(
        f"/api/records/{rid}/edit",
        json={"text": rec["text"], "note": "the whole answer again", "version": 2},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 200 and r.json()["status"] == "draft", r.text
    assert env.client.get(f"/api/records/{rid}", headers=env.auth("staff")).status_code == 404
    r = env.client.put(f"/api/records/{rid}/feedback", json={"helpful": True}, headers=other)
    assert r.status_code == 404
