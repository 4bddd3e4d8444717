"""The append-only audit log: each entry carries the hash of the one before, so a change anywhere breaks
the chain from that entry on. The database refuses UPDATE and DELETE on the table (see the migration)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.db import Database
from api.models import AuditEntry

GENESIS = "0" * 64
ACTIONS = (
    "login",
    "ask",
    "edit",
    "approve",
    "reject",
    "rereview",
    "export",
    "upload",
    "remove",
    "ingest",
    "user.create",
    "user.disable",
    "user.token",
    "eval.start",
    "audit.export",
)


def entry_hash(
    prev_hash: str, at: str, user_id: int | None, user_name: str, action: str, target: str, detail: str
) -> str:
    """The hash that chains an entry to its predecessor."""
    body = json.dumps(
        {"at": at, "user_id": user_id, "user_name": user_name, "action": action, "target": target, "detail": detail},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


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

    Appends are serialised: in one process by a lock held until the session ends (released by
    `Database.session`), across PostgreSQL clients by a transaction-scoped advisory lock.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if not session.info.get("audit_locked"):
        db.audit_lock.acquire()
        session.info["audit_locked"] = True
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(7264)"))
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
        hash=entry_hash(prev, at, user_id, user_name, action, target[:200], body),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    """The result of walking the chain."""

    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str = ""


def verify(session: Session) -> ChainCheck:
    """Recompute every hash in order; report the first entry that does not fit."""
    prev = GENESIS
    n = 0
    last_id = 0
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        n += 1
        if e.prev_hash != prev:
            gap = " (an entry before it was removed or altered)" if e.id != last_id + 1 else ""
            return ChainCheck(False, n, e.id, f"entry {e.id}: prev_hash does not match entry {last_id}{gap}")
        want = entry_hash(prev, e.at, e.user_id, e.user_name, e.action, e.target, e.detail)
        if e.hash != want:
            return ChainCheck(False, n, e.id, f"entry {e.id}: its content does not match its hash")
        prev, last_id = e.hash, e.id
    return ChainCheck(True, n)


def to_dict(e: AuditEntry) -> dict[str, Any]:
    """An entry as exported: every field needed to re-check the chain elsewhere."""
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


def export_lines(session: Session) -> Iterator[str]:
    """The whole log as JSON lines, oldest first."""
    for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id)).yield_per(1000):
        yield json.dumps(to_dict(e), ensure_ascii=False) + "\n"
