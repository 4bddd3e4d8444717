"""Conversations: threads of answer records, one person's, renamed and deleted (softly, audited) by them.

Rules:
- a conversation belongs to the person who started it; only they add turns to it, rename or delete it;
- reviewers and admins may read any conversation, as they may read any record; others see theirs only,
  and someone else's is reported as absent, not forbidden;
- a deleted conversation is hidden from everyone's list and reads as absent; its records stay, because
  the review desk and the audit trail rest on them;
- turn numbers are given under the desk's serialising lock, so two questions sent at once into one
  conversation become turns n and n+1, never two turns n.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from api.audit import append
from api.auth import Principal
from api.db import Database, serialise
from api.errors import BadInput
from api.models import Conversation, Record, utcnow
from ingest.errors import NotFound

TITLE_CHARS = 80


def title_from(question: str) -> str:
    """A conversation's first title: its first question, cut at a word near 80 characters."""
    q = " ".join(question.split())
    if len(q) <= TITLE_CHARS:
        return q
    cut = q[:TITLE_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


def _readable(who: Principal) -> Select[Conversation]:
    q = select(Conversation).where(Conversation.deleted_at.is_(None))
    return q if who.can("records.read_all") else q.where(Conversation.owner_id == who.id)


def get(session: Session, who: Principal, conversation_id: str) -> Conversation:
    """A conversation the user may read, with its turns."""
    conv = session.scalar(
        _readable(who)
        .where(Conversation.id == conversation_id)
        .options(selectinload(Conversation.turns).selectinload(Record.versions), selectinload(Conversation.owner))
    )
    if conv is None:
        raise NotFound(f"No conversation '{conversation_id}'")
    return conv


def owned(session: Session, who: Principal, conversation_id: str) -> Conversation:
    """A conversation the user started (to add a turn to, rename or delete)."""
    conv = get(session, who, conversation_id)
    if conv.owner_id != who.id:
        # Reviewers may read it, but it is someone else's thread: reported as absent for writing too.
        raise NotFound(f"No conversation '{conversation_id}' of yours")
    return conv


def mine(session: Session, who: Principal, q: str, limit: int, offset: int) -> list[Conversation]:
    """The user's conversations, newest activity first; every word of q must be in a title or a question."""
    stmt = select(Conversation).where(Conversation.owner_id == who.id, Conversation.deleted_at.is_(None))
    for word in q.split()[:10]:
        like = f"%{word.lower()}%"
        asked = select(Record.id).where(
            Record.conversation_id == Conversation.id, func.lower(Record.question).like(like)
        )
        stmt = stmt.where(or_(func.lower(Conversation.title).like(like), asked.exists()))
    # Turns, their versions and the owner in three queries, not one per conversation (`summary` reads all).
    stmt = stmt.options(
        selectinload(Conversation.turns).selectinload(Record.versions), selectinload(Conversation.owner)
    )
    return list(session.scalars(stmt.order_by(Conversation.updated_at.desc()).limit(limit).offset(offset)))


def next_turn(
    db: Database, session: Session, who: Principal, conversation_id: str | None, question: str
) -> tuple[Conversation, int]:
    """The conversation a new answer joins (a new one when None) and its turn number, under the desk's
    serialising lock, which the caller's transaction holds until the record is stored."""
    serialise(session)
    if conversation_id is None:
        conv = Conversation(id=uuid.uuid4().hex, owner_id=who.id, title=title_from(question))
        session.add(conv)
        session.flush()  # its first turn's "ask" entry in the audit log names it
        return conv, 1
    conv = owned(session, who, conversation_id)
    last = session.scalar(select(func.max(Record.turn)).where(Record.conversation_id == conv.id))
    conv.updated_at = utcnow()
    return conv, (last or 0) + 1


def rename(db: Database, session: Session, who: Principal, conversation_id: str, title: str) -> Conversation:
    """Rename a conversation of one's own (audited, with the old title)."""
    title = " ".join(title.split())
    if not title:
        raise BadInput("title: a conversation needs a title")
    serialise(session)
    conv = owned(session, who, conversation_id)
    old = conv.title
    conv.title = title[:200]
    append(db, session, who.id, who.name, "conversation.rename", conv.id, {"from": old, "to": conv.title})
    return conv


def delete(db: Database, session: Session, who: Principal, conversation_id: str) -> None:
    """Delete a conversation of one's own: hidden, not erased; its records stay for review and audit."""
    serialise(session)
    conv = owned(session, who, conversation_id)
    conv.deleted_at = utcnow()
    turns = [r.id for r in conv.turns]
    append(db, session, who.id, who.name, "conversation.delete", conv.id, {"title": conv.title, "records": turns})


def summary(conv: Conversation) -> dict[str, Any]:
    """What the sidebar shows: title, dates, turns and a preview of the newest answer."""
    turns = conv.turns
    last = turns[-1] if turns else None
    preview = ""
    if last is not None:
        preview = " ".join((last.versions[-1].text if last.versions else "").split())[:160]
    return {
        "id": conv.id,
        "title": conv.title,
        "owner": conv.owner.name,
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
        "turns": len(turns),
        "last_question": last.question if last else "",
        "preview": preview,
    }
