"""Every endpoint tried with every role, without a token and with a bad one; who sees whose drafts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROLES, DeskEnv

ALL = set(ROLES)
ASK = {"staff", "consultant", "reviewer"}
NOPE = "0" * 32
# The role matrix as a user would read it in the README, written out independently of api/auth.py.
MATRIX: dict[tuple[str, str], set[str]] = {
    ("POST", "/api/ask"): ASK,
    ("POST", "/api/ask/stream"): ASK,
    ("GET", "/api/records"): ALL,
    # Everyone has their own conversations (those who cannot ask have none); reading others' follows the records.
    ("GET", "/api/conversations"): ALL,
    ("GET", "/api/conversations/{conversation_id}"): ALL,
    ("PATCH", "/api/conversations/{conversation_id}"): ALL,
    ("DELETE", "/api/conversations/{conversation_id}"): ALL,
    ("GET", "/api/records/{record_id}"): ALL,
    ("GET", "/api/review/queue"): {"reviewer"},
    ("POST", "/api/records/{record_id}/edit"): {"consultant", "reviewer"},
    ("POST", "/api/records/{record_id}/approve"): {"reviewer"},
    ("POST", "/api/records/{record_id}/reject"): {"reviewer"},
    ("GET", "/api/library"): {"staff", "consultant", "reviewer", "admin"},
    # Those who read answers in their work rate them; reviewers and evaluators read the ratings.
    ("PUT", "/api/records/{record_id}/feedback"): {"staff", "consultant", "reviewer"},
    ("GET", "/api/feedback"): {"reviewer", "evaluator"},
    ("POST", "/api/export"): {"consultant"},
    ("GET", "/api/documents"): ALL,
    ("POST", "/api/documents"): {"admin"},
    ("DELETE", "/api/documents/{document_id}"): {"admin"},
    ("PATCH", "/api/documents/{document_id}"): {"admin"},
    ("GET", "/api/documents/{document_id}/pages/{page}"): ALL,
    ("GET", "/api/documents/{document_id}/pages/{page}/image"): ALL,
    # A citation's page is read through its answer: whoever may read the answer (others' read as absent).
    ("GET", "/api/records/{record_id}/citations/{n}/page"): ALL,
    ("GET", "/api/jobs"): ALL,
    ("GET", "/api/jobs/{job_id}"): ALL,
    ("POST", "/api/session"): ALL,
    ("GET", "/api/me"): ALL,
    ("POST", "/api/me/token"): ALL,
    ("GET", "/api/review/credentials"): {"reviewer"},
    ("POST", "/api/jobs/{job_id}/cancel"): ALL,
    ("GET", "/api/users"): {"admin"},
    ("POST", "/api/users"): {"admin"},
    ("POST", "/api/users/{user_id}/token"): {"admin"},
    ("DELETE", "/api/users/{user_id}"): {"admin"},
    ("GET", "/api/audit"): {"admin"},
    ("GET", "/api/audit/verify"): {"admin"},
    ("GET", "/api/audit/export"): {"admin"},
    ("GET", "/api/evals"): {"evaluator"},
    ("POST", "/api/evals"): {"evaluator"},
    ("GET", "/api/evals/{run_id}"): {"evaluator"},
    ("GET", "/api/evals/{run_id}/report"): {"evaluator"},
    ("GET", "/api/evals/{run_id}/results"): {"evaluator"},
    ("GET", "/api/evals/compare"): {"evaluator"},
}
# Requests that an allowed role may send without changing much: absent ids, invalid bodies.
REQUEST: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/ask"): {"json": {"question": "What should audit trails record?"}},
    ("POST", "/api/ask/stream"): {"json": {"question": "What should audit trails record?"}},
    ("POST", "/api/records/{record_id}/edit"): {"json": {"text": "A sentence. [1]", "version": 1}},
    ("POST", "/api/records/{record_id}/approve"): {"json": {"reason": "fine", "version": 1}},
    ("POST", "/api/records/{record_id}/reject"): {"json": {"reason": "wrong", "version": 1}},
    ("POST", "/api/export"): {"json": {"ids": [NOPE]}},
    ("PUT", "/api/records/{record_id}/feedback"): {"json": {"helpful": True}},
    ("GET", "/api/evals/compare"): {"params": {"a": NOPE, "b": NOPE}},
    ("PATCH", "/api/conversations/{conversation_id}"): {"json": {"title": "renamed"}},
    ("POST", "/api/documents"): {"params": {"filename": "../evil.txt"}, "content": b"x"},
    ("POST", "/api/users"): {"json": {"name": "x", "role": "emperor"}},
    ("POST", "/api/evals"): {"json": {"set": "not-a-set"}},
}
PATH_VALUES = {
    "conversation_id": NOPE,
    "record_id": NOPE,
    "document_id": NOPE,
    "page": "1",
    "n": "1",
    "job_id": NOPE,
    "user_id": "9999",
    "run_id": NOPE,
}


def _routes(env: DeskEnv) -> set[tuple[str, str]]:
    paths = env.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {(m.upper(), p) for p, ops in paths.items() if p.startswith("/api") for m in ops}


def _call(env: DeskEnv, method: str, path: str, headers: dict[str, str]) -> int:
    url = path.format(**PATH_VALUES)
    kwargs = REQUEST.get((method, path), {})
    r = env.client.request(method, url, headers=headers, **kwargs)
    if (method, path) == ("POST", "/api/me/token") and r.status_code == 200:
        # The caller exchanged their token: the old one is revoked, the new one is theirs from now on.
        role = next(role for role, t in env.tokens.items() if headers == {"Authorization": f"Bearer {t}"})
        env.tokens[role] = r.json()["token"]
    return r.status_code


def test_every_endpoint_is_in_the_role_matrix(desk_env: DeskEnv) -> None:
    assert _routes(desk_env) == set(MATRIX), "a new endpoint needs a row in the role matrix"


def test_each_role_is_allowed_exactly_what_the_matrix_says(desk_env: DeskEnv) -> None:
    wrong = []
    for (method, path), allowed in sorted(MATRIX.items()):
        for role in ROLES:
            status = _call(desk_env, method, path, desk_env.auth(role))
            if role in allowed and status in (401, 403):
                wrong.append(f"{role} refused {status} on {method} {path}")
            if role not in allowed and status != 403:
                wrong.append(f"{role} got {status}, not 403, on {method} {path}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ra_not-a-token"}, {"Authorization": "Basic abc"}])
def test_no_or_bad_token_is_401_everywhere(desk_env: DeskEnv, headers: dict[str, str]) -> None:
    for method, path in sorted(MATRIX):
        r = desk_env.client.request(
            method, path.format(**PATH_VALUES), headers=headers, **REQUEST.get((method, path), {})
        )
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers.get("www-authenticate") == "Bearer"


def test_rotated_and_disabled_tokens_stop_working(desk_env: DeskEnv) -> None:
    env = desk_env
    users = {u["name"]: u["id"] for u in env.client.get("/api/users", headers=env.auth("admin")).json()}
    old = env.auth("staff")
    r = env.client.post(f"/api/users/{users['staff1']}/token", headers=env.auth("admin"))
    assert env.client.get("/api/me", headers=old).status_code == 401
    new = {"Authorization": f"Bearer {r.json()['token']}"}
    assert env.client.get("/api/me", headers=new).json()["name"] == "staff1"
    assert env.client.delete(f"/api/users/{users['staff1']}", headers=env.auth("admin")).json()["active"] is False
    assert env.client.get("/api/me", headers=new).status_code == 401


def test_a_user_never_sees_another_users_drafts_unless_reviewer_or_admin(desk_env: DeskEnv) -> None:
    env = desk_env
    mine = env.ask("What should audit trails record?", role="staff")
    other = env.add_user("staff2", "staff")
    assert env.client.get(f"/api/records/{mine['id']}", headers=other).status_code == 404
    assert mine["id"] not in [r["id"] for r in env.client.get("/api/records", headers=other).json()]
    assert env.client.get(f"/api/records/{mine['id']}", headers=env.auth("consultant")).status_code == 404
    r = env.client.post(
        f"/api/records/{mine['id']}/edit",
        json={"version": env.version(mine["id"]), "text": "Changed. [1]"},
        headers=env.auth("consultant"),
    )
    assert r.status_code == 404
    for role in ("staff", "reviewer", "admin"):
        assert env.client.get(f"/api/records/{mine['id']}", headers=env.auth(role)).status_code == 200, role


def test_tokens_are_stored_only_as_hashes(desk_env: DeskEnv) -> None:
    import sqlite3

    db = sqlite3.connect(desk_env.settings.data_dir / "desk.sqlite3")
    dump = "\n".join(db.iterdump())
    for token in desk_env.tokens.values():
        assert token not in dump
    from api.auth import hash_token

    assert hash_token(desk_env.tokens["reviewer"]) in dump
