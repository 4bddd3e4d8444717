"""The audit log: every action recorded with who and what, append-only in the database, tamper-evident."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import DeskEnv
from tests.test_api_review import Q_TXT


def _entries(env: DeskEnv) -> list[dict[str, object]]:
    r = env.client.get("/api/audit", params={"limit": 1000}, headers=env.auth("admin"))
    return list(reversed(r.json()))


def test_every_action_is_recorded_with_user_and_what_changed(desk_env: DeskEnv) -> None:
    env = desk_env
    env.client.post("/api/session", headers=env.auth("consultant"))
    rec = env.ask(Q_TXT)
    text = rec["claims"][0]["text"] + " [1]"
    env.client.post(
        f"/api/records/{rec['id']}/edit",
        json={"version": env.version(rec["id"]), "text": text, "note": "kept one"},
        headers=env.auth("consultant"),
    )
    env.client.post(
        f"/api/records/{rec['id']}/approve",
        json={"version": env.version(rec["id"]), "reason": "matches section"},
        headers=env.auth("reviewer"),
    )
    env.client.post("/api/export", json={"ids": [rec["id"]]}, headers=env.auth("consultant"))
    other = env.ask(Q_TXT)
    env.client.post(
        f"/api/records/{other['id']}/reject",
        json={"version": env.version(other["id"]), "reason": "duplicate"},
        headers=env.auth("reviewer"),
    )
    r = env.client.post(
        "/api/documents",
        params={"filename": "note.txt"},
        content=b"A short note.\n",
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    env.wait_job(r.json()["id"])
    doc = next(d for d in env.client.get("/api/documents", headers=env.auth("admin")).json() if d["file"] == "note.txt")
    env.wait_job(env.client.delete(f"/api/documents/{doc['document_id']}", headers=env.auth("admin")).json()["id"])

    log = _entries(env)
    actions = [(e["action"], e["user_name"]) for e in log]
    for expected in [
        ("user.create", "admin"),
        ("login", "consultant1"),
        ("ask", "consultant1"),
        ("edit", "consultant1"),
        ("approve", "reviewer1"),
        ("export", "consultant1"),
        ("reject", "reviewer1"),
        ("upload", "admin"),
        ("ingest", "admin"),
        ("remove", "admin"),
    ]:
        assert expected in actions, expected
    edit = next(e for e in log if e["action"] == "edit")
    detail = json.loads(str(edit["detail"]))
    assert edit["target"] == rec["id"] and detail["note"] == "kept one" and detail["diff"].startswith("--- before")
    approve = json.loads(str(next(e for e in log if e["action"] == "approve")["detail"]))
    assert approve["reason"] == "matches section" and approve["documents"][0]["document_id"]
    assert env.client.get("/api/audit/verify", headers=env.auth("admin")).json() == {
        "ok": True,
        "entries": len(log),
        "first_bad": None,
        "problem": "",
    }


def test_the_api_offers_no_way_to_change_or_delete_entries(desk_env: DeskEnv) -> None:
    paths = desk_env.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    for path, ops in paths.items():
        if "audit" in path:
            assert set(ops) == {"get"}, path


def test_the_database_refuses_update_and_delete(desk_env: DeskEnv) -> None:
    desk_env.ask(Q_TXT)
    db = sqlite3.connect(desk_env.settings.data_dir / "desk.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET user_name = 'someone else' WHERE id = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit WHERE id = 1")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=120)


def test_tampering_is_detected_by_the_chain_and_the_cli(desk_env: DeskEnv) -> None:
    env = desk_env
    env.ask(Q_TXT)
    env.ask(Q_TXT, role="staff")
    data = str(env.settings.data_dir)
    ok = _cli("audit", "verify", "--data-dir", data)
    assert ok.returncode == 0 and "audit chain intact" in ok.stdout
    n = int(ok.stdout.split(":")[1].split()[0])
    # Someone with file access drops the guard and rewrites history: the chain shows where.
    db = sqlite3.connect(env.settings.data_dir / "desk.sqlite3")
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET detail = replace(detail, 'What', 'Why') WHERE action = 'ask' AND user_name = 'staff1'")
    db.commit()
    row = db.execute("SELECT id FROM audit WHERE action = 'ask' AND user_name = 'staff1'").fetchone()
    bad = _cli("audit", "verify", "--data-dir", data)
    assert bad.returncode == 1 and f"entry {row[0]}: its content does not match its hash" in bad.stderr
    check = env.client.get("/api/audit/verify", headers=env.auth("admin")).json()
    assert check["ok"] is False and check["first_bad"] == row[0]
    # Deleting an entry breaks the link of the one after it.
    fresh = env.root / "copy.sqlite3"
    db.execute(f"VACUUM INTO '{fresh}'")
    db2 = sqlite3.connect(fresh)
    db2.execute("DROP TRIGGER audit_no_delete")
    db2.execute("DELETE FROM audit WHERE id = 2")
    db2.commit()
    gone = _cli("audit", "verify", "--database-url", f"sqlite:///{fresh}")
    assert gone.returncode == 1 and "entry 3: prev_hash does not match entry 1" in gone.stderr
    assert n == 10  # four users created, their four tokens exchanged, two questions asked


def test_the_log_exports_as_json_lines_that_recheck_elsewhere(desk_env: DeskEnv, tmp_path: object) -> None:
    from api.audit import GENESIS, entry_hash

    env = desk_env
    env.ask(Q_TXT)
    r = env.client.get("/api/audit/export", headers=env.auth("admin"))
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[-1]["action"] == "audit.export"
    prev = GENESIS
    for e in lines:
        assert e["prev_hash"] == prev
        assert e["hash"] == entry_hash(
            prev, e["at"], e["user_id"], e["user_name"], e["action"], e["target"], e["detail"]
        )
        prev = e["hash"]
