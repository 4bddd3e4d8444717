"""Thumbs up or down on an answer: a thumbs down says why, a second rating replaces the first, reviewers
read every reader's, evaluators count them, and each rating is audited."""

from __future__ import annotations

import json

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
