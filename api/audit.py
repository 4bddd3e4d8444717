"""The append-only audit log, which a person holding the database file cannot rewrite unnoticed.

- Each entry carries an HMAC-SHA-256 of its content and of the entry before it, under a key kept outside
  the database (`audit.key` beside it, 0600, or REGASSIST_AUDIT_KEY). Without the key nobody can recompute
  the chain after editing an entry, as a plain hash chain allows.
- After every commit that adds entries, a signed checkpoint (newest entry and its MAC) is appended to a
  separate file, and `regassist audit checkpoint` prints one to keep elsewhere. Entries cut from the tail
  leave the log shorter than a checkpoint says it was.
- Every change of a record's status or current version is written in the same transaction as its entry,
  which states the status, version and text hash the change left; `verify` compares each record with its
  last entry, so `UPDATE records SET status = 'approved'` shows.
- The database refuses UPDATE and DELETE on the table itself (see the migration).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import Database, serialise
from api.models import AuditEntry, Record, Version
from ingest.errors import ConfigError

log = logging.getLogger("regassist.audit")

GENESIS = "0" * 64
ACTIONS = (
    "login",
    "auth.fail",
    "denied",
    "ask",
    "conversation.rename",
    "conversation.delete",
    "edit",
    "approve",
    "reject",
    "rereview",
    "export",
    "upload",
    "document.edit",
    "feedback",
    "remove",
    "ingest",
    "user.create",
    "user.disable",
    "user.token",
    "user.token.claim",
    "eval.start",
    "eval.cancel",
    "audit.export",
)
# Actions that change a record's status or current version; their detail states what they left.
STATE_ACTIONS = ("ask", "edit", "approve", "reject", "rereview")


# --- the key ---------------------------------------------------------------------------------------
def load_key(path: Path, given: str | None = None, create: bool = False) -> bytes:
    """The audit key: `given` (a setting) if set, else the key file, created 0600 when `create` is true."""
    if given:
        return given.encode()
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            raise ConfigError(
                f"No audit key at {path}: pass the data folder that holds audit.key, or set REGASSIST_AUDIT_KEY"
            ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    log.warning("created the audit key %s; keep a copy apart from the database", path)
    return key


def _body(at: str, user_id: int | None, user_name: str, action: str, target: str, detail: str) -> str:
    return json.dumps(
        {"at": at, "user_id": user_id, "user_name": user_name, "action": action, "target": target, "detail": detail},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def entry_hash(
    key: bytes, prev_hash: str, at: str, user_id: int | None, user_name: str, action: str, target: str, detail: str
) -> str:
    """The keyed MAC that chains an entry to its predecessor."""
    body = _body(at, user_id, user_name, action, target, detail)
    return hmac.new(key, f"{prev_hash}\n{body}".encode(), hashlib.sha256).hexdigest()


def _legacy_hash(
    prev_hash: str, at: str, user_id: int | None, user_name: str, action: str, target: str, detail: str
) -> str:
    # Entries written before the key existed; accepted only at the start of the log (see `verify`).
    body = _body(at, user_id, user_name, action, target, detail)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def text_hash(text_: str) -> str:
    """SHA-256 of an answer version's text, as its audit entry records it."""
    return hashlib.sha256(text_.encode()).hexdigest()


def record_state(record: Record, text_: str) -> dict[str, Any]:
    """What a state-changing entry records about the record it leaves: status, current version and its text."""
    return {"status": record.status, "version": record.current_version, "text_sha256": text_hash(text_)}


# --- appending -------------------------------------------------------------------------------------
def append(
    db: Database,
    session: Session,
    user_id: int | None,
    user_name: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction, so the action and its record commit together.

    Appends are serialised by the database: SQLite's write lock (taken here if the transaction does not
    hold it yet) or, on PostgreSQL, a transaction-scoped advisory lock; so across processes too.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    serialise(session)
    prev = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)) or GENESIS
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    body = json.dumps(detail or {}, sort_keys=True, ensure_ascii=False, default=str)
    entry = AuditEntry(
        at=at,
        user_id=user_id,
        user_name=user_name,
        action=action,
        target=target[:200],
        detail=body,
        prev_hash=prev,
        hash=entry_hash(db.audit_key, prev, at, user_id, user_name, action, target[:200], body),
    )
    session.add(entry)
    session.flush()
    session.info["audit_head"] = (entry.id, entry.hash)
    return entry


# --- checkpoints -----------------------------------------------------------------------------------
def _checkpoint_mac(key: bytes, entry: int, head: str, at: str) -> str:
    return hmac.new(key, f"checkpoint\n{entry}\n{head}\n{at}".encode(), hashlib.sha256).hexdigest()


def checkpoint(key: bytes, entry: int, head: str) -> dict[str, Any]:
    """A signed statement: the log held entry `entry`, with MAC `head`, at this time."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    return {"entry": entry, "head": head, "at": at, "mac": _checkpoint_mac(key, entry, head, at)}


def write_checkpoint(path: Path, cp: dict[str, Any]) -> None:
    """Append a checkpoint line (one write, so lines from several threads or processes never interleave)."""
    line = json.dumps(cp, separators=(",", ":")) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_checkpoints(path: Path) -> list[dict[str, Any]]:
    """The checkpoints in a file, in order (a missing file has none)."""
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line) | {"line": n})
            except json.JSONDecodeError:
                out.append({"line": n, "entry": -1, "head": "", "at": "", "mac": ""})
    return out


# --- checking --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChainCheck:
    """The result of walking the chain, the checkpoints and the records."""

    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str = ""
    legacy: int = 0
    checkpoint: int | None = None


def verify(session: Session, key: bytes, checkpoints: Iterable[dict[str, Any]] = ()) -> ChainCheck:
    """Recompute every MAC in order, hold the log against the checkpoints, and each record against its
    last entry; report the first thing that does not fit."""
    prev = GENESIS
    n = legacy = 0
    last_id = 0
    macs: dict[int, str] = {}
    states: dict[str, tuple[int, str, dict[str, Any]]] = {}
    texts: dict[tuple[str, int], tuple[int, str]] = {}
    audited: set[str] = set()
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        n += 1
        if e.prev_hash != prev:
            gap = " (an entry before it was removed or altered)" if e.id != last_id + 1 else ""
            return ChainCheck(False, n, e.id, f"entry {e.id}: prev_hash does not match entry {last_id}{gap}", legacy)
        fields = (e.at, e.user_id, e.user_name, e.action, e.target, e.detail)
        if not hmac.compare_digest(e.hash, entry_hash(key, prev, *fields)):
            # Unkeyed entries from before the key are accepted only as the log's first entries: once a keyed
            # entry exists, an unkeyed one after it is a forgery by someone without the key.
            if legacy == n - 1 and e.hash == _legacy_hash(prev, *fields):
                legacy += 1
            else:
                problem = f"entry {e.id}: its content does not match its hash (a keyed MAC)"
                return ChainCheck(False, n, e.id, problem, legacy)
        if e.action in STATE_ACTIONS:
            audited.add(e.target)
            detail = json.loads(e.detail)
            if "status" in detail:
                states[e.target] = (e.id, e.action, detail)
                texts[(e.target, int(detail["version"]))] = (e.id, detail["text_sha256"])
        macs[e.id] = e.hash
        prev, last_id = e.hash, e.id
    newest: int | None = None
    for cp in checkpoints:
        where = f"checkpoint {cp.get('line', '')} ({cp.get('at', '?')})".replace(" ()", "")
        entry, head = int(cp.get("entry", -1)), str(cp.get("head", ""))
        want = _checkpoint_mac(key, entry, head, str(cp.get("at", "")))
        if not hmac.compare_digest(str(cp.get("mac", "")), want):
            return ChainCheck(False, n, None, f"{where} is not signed with this key", legacy)
        if entry > last_id:
            return ChainCheck(
                False,
                n,
                last_id + 1,
                f"the log ends at entry {last_id}, but {where} records entry {entry}: entries after {last_id} were cut",
                legacy,
                entry,
            )
        if macs.get(entry) != head:
            return ChainCheck(False, n, entry, f"entry {entry} is not the one {where} recorded", legacy, entry)
        newest = max(newest or 0, entry)
    for record in session.scalars(select(Record)):
        seen = states.get(record.id)
        if seen is None:
            continue  # created before entries stated what they left, or never audited (see below)
        eid, action, detail = seen
        if (record.status, record.current_version) != (detail["status"], int(detail["version"])):
            return ChainCheck(
                False,
                n,
                eid,
                f"record {record.id}: it is {record.status} at version {record.current_version}, but its last audit "
                f"entry ({eid}, {action}) left it {detail['status']} at version {detail['version']}: changed outside "
                "regassist",
                legacy,
                newest,
            )
    for v in session.scalars(select(Version)):
        tied = texts.get((v.record_id, v.version))
        if tied is not None and text_hash(v.text) != tied[1]:
            return ChainCheck(
                False,
                n,
                tied[0],
                f"record {v.record_id}: the text of version {v.version} is not the text its audit entry ({tied[0]}) "
                "recorded: changed outside regassist",
                legacy,
                newest,
            )
    untied = next((r for r in session.scalars(select(Record.id)) if r not in audited), None)
    if untied is not None:
        return ChainCheck(
            False, n, None, f"record {untied} has no audit entry: it was written outside regassist", legacy, newest
        )
    return ChainCheck(True, n, legacy=legacy, checkpoint=newest)


def to_dict(e: AuditEntry) -> dict[str, Any]:
    """An entry as exported: every field needed to re-check the chain elsewhere (with the key)."""
    return {
        "id": e.id,
        "at": e.at,
        "user_id": e.user_id,
        "user_name": e.user_name,
        "action": e.action,
        "target": e.target,
        "detail": e.detail,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def head(session: Session) -> tuple[int, str]:
    """The newest entry's id and MAC (0 and the genesis value for an empty log)."""
    row = session.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def export_lines(session: Session) -> Iterator[str]:
    """The whole log as JSON lines, oldest first."""
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        yield json.dumps(to_dict(e), ensure_ascii=False) + "\n"
