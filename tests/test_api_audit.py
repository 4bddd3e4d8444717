"""The audit log: every action recorded with who and what, append-only in the database, tamper-evident."""

from __future__ import annotations

import hashlib
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
    gone = _cli("audit", "verify", "--data-dir", data, "--database-url", f"sqlite:///{fresh}")
    assert gone.returncode == 1 and "entry 3: prev_hash does not match entry 1" in gone.stderr
    assert n == 10  # four users created, their four tokens exchanged, two questions asked


def test_the_log_exports_as_json_lines_that_recheck_elsewhere(desk_env: DeskEnv, tmp_path: object) -> None:
    from api.audit import GENESIS, entry_hash

    env = desk_env
    key = (env.settings.data_dir / "audit.key").read_bytes().strip()
    env.ask(Q_TXT)
    r = env.client.get("/api/audit/export", headers=env.auth("admin"))
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[-1]["action"] == "audit.export"
    prev = GENESIS
    for e in lines:
        assert e["prev_hash"] == prev
        assert e["hash"] == entry_hash(
            key, prev, e["at"], e["user_id"], e["user_name"], e["action"], e["target"], e["detail"]
        )
        prev = e["hash"]


def _sha256_rechain(db: sqlite3.Connection, start: int) -> None:
    """What an attacker with the file but not the key does: recompute every hash from `start` on."""
    from api.audit import _body

    prev = db.execute("SELECT hash FROM audit WHERE id < ? ORDER BY id DESC LIMIT 1", (start,)).fetchone()[0]
    rows = db.execute(
        "SELECT id, at, user_id, user_name, action, target, detail FROM audit WHERE id >= ? ORDER BY id", (start,)
    ).fetchall()
    for id_, *fields in rows:
        h = hashlib.sha256(f"{prev}\n{_body(*fields)}".encode()).hexdigest()
        db.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", (prev, h, id_))
        prev = h
    db.commit()


def _copy(env: DeskEnv, name: str) -> tuple[sqlite3.Connection, str]:
    path = env.root / name
    sqlite3.connect(env.settings.data_dir / "desk.sqlite3").execute(f"VACUUM INTO '{path}'")
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("DROP TRIGGER audit_no_delete")
    return db, f"sqlite:///{path}"


def test_a_rewritten_and_rechained_entry_or_a_cut_tail_is_named(desk_env: DeskEnv) -> None:
    env = desk_env
    for _ in range(3):
        rec = env.ask(Q_TXT)
    data = str(env.settings.data_dir)
    assert _cli("audit", "verify", "--data-dir", data).returncode == 0
    # Rewrite an entry and recompute every later hash, as a plain hash chain allowed.
    db, url = _copy(env, "rechained.sqlite3")
    target = db.execute("SELECT id FROM audit WHERE action = 'ask' ORDER BY id LIMIT 1").fetchone()[0]
    db.execute("UPDATE audit SET detail = replace(detail, 'test', 'TEST') WHERE id = ?", (target,))
    _sha256_rechain(db, target)
    out = _cli("audit", "verify", "--data-dir", data, "--database-url", url)
    assert out.returncode == 1 and f"entry {target}: its content does not match its hash" in out.stderr
    # Cut the last entries (four sign-ins): the checkpoint file says the log was longer.
    for _ in range(4):
        env.client.post("/api/session", headers=env.auth("staff"))
    db, url = _copy(env, "cut.sqlite3")
    last = db.execute("SELECT max(id) FROM audit").fetchone()[0]
    db.execute("DELETE FROM audit WHERE id > ?", (last - 4,))
    db.commit()
    out = _cli("audit", "verify", "--data-dir", data, "--database-url", url)
    assert out.returncode == 1 and f"the log ends at entry {last - 4}" in out.stderr and "were cut" in out.stderr
    # With the checkpoint file gone too, a checkpoint printed earlier and kept elsewhere still catches it.
    kept = _cli("audit", "checkpoint", "--data-dir", data)
    assert kept.returncode == 0, kept.stderr
    (env.settings.data_dir / "audit-checkpoints.jsonl").unlink()
    out = _cli("audit", "verify", "--data-dir", data, "--database-url", url)
    assert out.returncode == 0  # nothing left to compare with: why a checkpoint is kept elsewhere
    out = _cli("audit", "verify", "--data-dir", data, "--database-url", url, "--checkpoint", kept.stdout.strip())
    assert out.returncode == 1 and "were cut" in out.stderr
    # A record changed behind the application's back.
    db, url = _copy(env, "records.sqlite3")
    db.execute("UPDATE records SET status = 'approved' WHERE id = ?", (rec["id"],))
    db.commit()
    out = _cli("audit", "verify", "--data-dir", data, "--database-url", url)
    assert out.returncode == 1 and f"record {rec['id']}: it is approved at version 1" in out.stderr
    db, url = _copy(env, "versions.sqlite3")
    db.execute("UPDATE record_versions SET text = 'Audit trails are optional.' WHERE record_id = ?", (rec["id"],))
    db.commit()
    out = _cli("audit", "verify", "--data-dir", data, "--database-url", url)
    assert out.returncode == 1 and "the text of version 1 is not the text its audit entry" in out.stderr
    assert _cli("audit", "verify", "--data-dir", data).returncode == 0  # the real file was never touched


def test_failed_sign_ins_403s_and_disabled_tokens_are_audited_with_a_bound(desk_env: DeskEnv) -> None:
    env = desk_env
    for i in range(30):
        env.client.get("/api/me", headers={"Authorization": f"Bearer ra_guess-{i}"})
    staff = env.add_user("leaver", "staff")
    users = {u["name"]: u["id"] for u in env.client.get("/api/users", headers=env.auth("admin")).json()}
    env.client.delete(f"/api/users/{users['leaver']}", headers=env.auth("admin"))
    assert env.client.get("/api/me", headers=staff).status_code == 401
    env.client.get("/api/audit", headers=env.auth("staff"))
    log = _entries(env)
    fails = [json.loads(str(e["detail"])) for e in log if e["action"] == "auth.fail"]
    # One address adds at most 10 entries a minute, however many guesses it makes ...
    guesses = [f for f in fails if f["reason"] == "unknown token"]
    assert 1 <= len(guesses) <= 10
    # ... but a disabled user's real token is written every time, flood or not.
    assert [f["path"] for f in fails if f["reason"] == "token of disabled user leaver"] == ["/api/me"]
    denied = [e for e in log if e["action"] == "denied"]
    assert denied and denied[-1]["user_name"] == "staff1" and denied[-1]["target"] == "GET /api/audit"
