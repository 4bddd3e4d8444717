"""Answer records through review: stored as drafts, edited (and re-verified), approved or rejected.

Rules a reviewer relies on:
- an edit is a new version with its diff; its sentences are verified again against the passages the
  answer was grounded on, and a sentence that loses support is flagged before anyone can approve it;
- approving needs the reviewer to acknowledge any unsupported sentence explicitly;
- nobody approves an answer to a question they asked, or any version of an answer they wrote a version
  of (four eyes by authorship: text a reviewer wrote stays theirs however little someone changes it);
- a refusal is not an answer and never enters the library;
- approving or editing an approved answer starts a new review; the library holds only approved answers;
- every edit, approval and rejection names the version its author saw, and is refused (409) when that
  is no longer the current one: the check and the change happen in one transaction under the record's
  write lock, so what is approved is exactly what the reviewer read.
"""

from __future__ import annotations

import difflib
import re
import uuid
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from api.audit import append, record_state
from api.auth import Principal
from api.db import Database, write_lock
from api.errors import BadInput, Conflict, Forbidden
from api.models import CitationRow, Record, Review, Version
from assistant.types import Answer, Evidence
from assistant.verify import Verifier, split_claims
from ingest.errors import NotFound
from ingest.types import Chunk, DocumentMeta

EDITABLE = ("draft", "needs_rereview", "rejected", "approved")
REVIEWABLE = ("draft", "needs_rereview")


def create(
    db: Database,
    session: Session,
    who: Principal,
    answer: Answer,
    settings: dict[str, Any],
    turn: tuple[str, int] | None = None,
) -> Record:
    """Store an answer as a draft, with its provenance, its citations and an audit entry; `turn` is its
    conversation and place there (`api.conversations.next_turn`)."""
    contract = answer.to_dict()
    record = Record(
        id=uuid.uuid4().hex,
        asker_id=who.id,
        question=answer.question,
        status="draft",
        abstained=answer.abstained,
        abstain_reason=answer.abstain_reason,
        answer=contract,
        settings=settings,
        backend=answer.backend,
        model=answer.model,
        prompt_version=answer.prompt_version,
        index_version=answer.index_version,
        current_version=1,
        conversation_id=turn[0] if turn else None,
        turn=turn[1] if turn else None,
    )
    session.add(record)
    session.flush()
    session.add(Version(record_id=record.id, version=1, text=answer.answer, claims=contract["claims"], author_id=None))
    for c in answer.citations:
        session.add(
            CitationRow(
                record_id=record.id,
                n=c.n,
                document_id=c.document_id,
                file=c.file,
                title=c.title,
                section=c.section,
                page=c.page,
                quote=c.quote,
                chunk_id=c.chunk_id,
                quote_start=c.quote_start,
                quote_end=c.quote_end,
                doc_status=c.status,
                page_label=c.page_label,
            )
        )
    session.flush()
    append(
        db,
        session,
        who.id,
        who.name,
        "ask",
        record.id,
        {"question": answer.question, "abstained": answer.abstained, "citations": len(answer.citations)}
        | ({"conversation": turn[0], "turn": turn[1]} if turn else {})
        | record_state(record, answer.answer),
    )
    return record


def _records() -> Select[Record]:
    return select(Record).options(selectinload(Record.versions), selectinload(Record.citations))


def visible(who: Principal) -> Select[Record]:
    """Records this user may see: their own, or all of them for reviewers and admins."""
    q = _records()
    return q if who.can("records.read_all") else q.where(Record.asker_id == who.id)


def readable(who: Principal) -> Select[Record]:
    """Records this user may read: those they may see, and every approved answer for those who read the
    library (which lists them). Reading is all it allows; writes go through `visible`."""
    if who.can("records.read_all") or not who.can("library"):
        return visible(who)
    return _records().where(or_(Record.asker_id == who.id, Record.status == "approved"))


def get(session: Session, who: Principal, record_id: str, reading: bool = False) -> Record:
    """One record the user may see, or with `reading` read (someone else's draft is reported as absent,
    not forbidden)."""
    record = session.scalar((readable(who) if reading else visible(who)).where(Record.id == record_id))
    if record is None:
        raise NotFound(f"No answer record '{record_id}'")
    return record


def current(record: Record) -> Version:
    """The record's newest version."""
    return record.versions[-1]


def lock(session: Session, record: Record, seen: int, doing: str) -> Record:
    """Take the record's write lock, read it afresh, and check that `seen` is still its current version.

    SQLite: the database's write lock (BEGIN IMMEDIATE); PostgreSQL: the row (SELECT … FOR UPDATE). Whatever
    another request changed before the lock is visible here, and nothing changes it until this commits.
    """
    write_lock(session)
    fresh = session.scalar(
        select(Record)
        .where(Record.id == record.id)
        .options(selectinload(Record.versions), selectinload(Record.citations))
        .with_for_update(of=Record)
        .execution_options(populate_existing=True)
    )
    assert fresh is not None  # records are never deleted
    _still_current(fresh, seen, doing)
    return fresh


def _still_current(record: Record, seen: int, doing: str) -> None:
    # The record's row and its versions are separate reads outside a write transaction (SQLite): an edit
    # that lands between them shows as a newer version among the versions than the row says. Either is
    # the same conflict (not, say, an "unchanged" text).
    now = max(record.current_version, current(record).version)
    if now != seen:
        raise Conflict(
            f"version: you {doing} version {seen}, but version {now} is current now "
            f"({record.status}); reload the answer and look again"
        )


def authors(record: Record) -> set[int]:
    """Everyone who wrote a version of the answer."""
    return {v.author_id for v in record.versions if v.author_id is not None}


def _sources(record: Record) -> dict[int, Evidence]:
    """The passages each citation number stood for when the answer was written, rebuilt from the record.

    Edits are verified against exactly what the answer was grounded on, even if the document has changed
    since (that case is the source check's business).
    """
    passages = record.answer.get("retrieval", [])
    out: dict[int, Evidence] = {}
    for c in record.citations:
        passage = next((p for p in passages if c.chunk_id in p.get("chunk_ids", [p.get("chunk_id")])), None)
        text = passage["text"] if passage else c.quote
        chunk = Chunk(
            chunk_id=c.chunk_id,
            document_id=c.document_id,
            file=c.file,
            title=c.title,
            ordinal=0,
            section=c.section,
            heading_path=(),
            page_start=c.page,
            page_end=c.page,
            char_start=0,
            char_end=len(text),
            text=text,
            meta=DocumentMeta(title=c.title, status=c.doc_status),
        )
        out[c.n] = Evidence((chunk,), 1.0, 1.0, 1.0)
    return out


def reverify(record: Record, text: str, verifier: Verifier) -> list[dict[str, Any]]:
    """Claims of an edited text, each checked against the passages its [n] markers cite."""
    pieces = split_claims(text)
    if not pieces:
        raise BadInput("text: the edited answer has no sentences")
    sources = _sources(record)
    unknown = sorted({n for _, cited in pieces for n in cited if n not in sources})
    if unknown:
        have = ", ".join(f"[{n}]" for n in sorted(sources)) or "none"
        raise BadInput(
            f"text: cites {', '.join(f'[{n}]' for n in unknown)}, which this answer does not have (sources: {have})"
        )
    out = []
    for v in verifier.verify(pieces, sources):
        reason = v.reason
        if not v.cited:
            reason = reason or "cites no source"
        out.append(
            {
                "text": v.text,
                "citations": list(v.cited),
                "supported": v.supported,
                "support_score": round(v.score, 4),
                "reason": reason,
            }
        )
    return out


def _diff(old: str, new: str) -> str:
    def lines(s: str) -> list[str]:
        return [p + "\n" for p in re.split(r"(?<=[.!?\]])\s+(?=[A-Z(“\"])", s.strip()) if p]

    return "".join(difflib.unified_diff(lines(old), lines(new), "before", "after", n=1))


def edit(
    db: Database,
    session: Session,
    who: Principal,
    record: Record,
    text: str,
    note: str,
    verifier: Verifier,
    seen: int,
) -> Version:
    """A new version of the answer (`seen`: the version the editor started from), re-verified; an approved
    answer goes back to review."""
    who.require("records.edit")
    if not who.can("records.read_all") and record.asker_id != who.id:
        raise Forbidden("consultants edit only their own drafts")
    _still_current(record, seen, "edited")  # before the costly verification; checked again under the lock
    text = text.strip()
    if text == current(record).text.strip():
        raise BadInput("text: unchanged from the current version")
    # Verification takes up to a second or two; it runs before the lock, on the sources the record keeps.
    claims = reverify(record, text, verifier)
    record = lock(session, record, seen, "edited")
    if record.status not in EDITABLE:
        raise Conflict(f"a record that is {record.status} cannot be edited")
    prev = current(record)
    version = Version(
        record_id=record.id,
        version=prev.version + 1,
        text=text,
        claims=claims,
        diff=_diff(prev.text, text),
        note=note,
        author_id=who.id,
    )
    session.add(version)
    record.versions.append(version)
    record.current_version = version.version
    was = record.status
    if record.status in ("approved", "rejected"):
        record.status = "draft"
    lost = [c["text"] for c in claims if not c["supported"]]
    append(
        db,
        session,
        who.id,
        who.name,
        "edit",
        record.id,
        {"was": was, "diff": version.diff, "unsupported": lost, "note": note} | record_state(record, version.text),
    )
    return version


def unsupported(version: Version) -> list[dict[str, Any]]:
    """The version's sentences that their citations do not support."""
    return [c for c in version.claims if not c.get("supported")]


def approve(
    db: Database,
    session: Session,
    who: Principal,
    record: Record,
    reason: str,
    acknowledge_unsupported: bool,
    live_documents: dict[str, str],
    seen: int,
) -> Review:
    """Approve version `seen`, which must be the current one. `live_documents` maps file name to the live
    document hash."""
    who.require("review")
    record = lock(session, record, seen, "approved")
    if record.status not in REVIEWABLE:
        raise Conflict(f"only drafts and answers needing re-review can be approved; this one is {record.status}")
    version = current(record)
    if record.asker_id == who.id:
        raise Forbidden("four eyes: another reviewer must approve an answer to a question you asked")
    if who.id in authors(record):
        raise Forbidden(
            "four eyes: you wrote a version of this answer, so another reviewer must approve it "
            "(however small a later change, the text is still partly yours)"
        )
    if record.abstained:
        raise Conflict("a refusal is not an answer and cannot enter the library; reject it, or ask again")
    bad = unsupported(version)
    if bad and not record.abstained and not acknowledge_unsupported:
        listed = "; ".join(f"“{c['text'][:80]}”" for c in bad)
        raise Conflict(
            f"{len(bad)} sentence(s) are not supported by their citations: {listed}. Edit them, reject the answer, "
            "or approve with acknowledge_unsupported=true"
        )
    cited = {n for c in version.claims for n in c.get("citations", [])}
    gone = [c for c in record.citations if c.n in cited and c.file not in live_documents]
    if gone:
        raise Conflict(
            f"citation [{gone[0].n}] points into {gone[0].file}, which is no longer in the library; edit the answer "
            "to drop it, or reject"
        )
    if record.rereview:
        unresolved = [r for r in record.rereview if r.get("change") == "changed" and r.get("n") in cited]
        if unresolved and not acknowledge_unsupported:
            raise Conflict(
                f"citation [{unresolved[0]['n']}] quotes a passage that has changed in {unresolved[0]['file']}; edit "
                "the answer, or approve with acknowledge_unsupported=true after checking the new text"
            )
    documents = sorted({(c.file, live_documents.get(c.file, c.document_id)) for c in record.citations if c.n in cited})
    # The approval attests to the documents as they are now.
    for c in record.citations:
        if c.file in live_documents:
            c.document_id = live_documents[c.file]
    review = Review(
        record_id=record.id,
        version=version.version,
        reviewer_id=who.id,
        decision="approved",
        reason=reason,
        documents=[{"file": f, "document_id": d} for f, d in documents],
    )
    session.add(review)
    record.status = "approved"
    record.rereview = None
    append(
        db,
        session,
        who.id,
        who.name,
        "approve",
        record.id,
        {"reason": reason, "documents": review.documents, "acknowledged": [c["text"] for c in bad]}
        | record_state(record, version.text),
    )
    return review


def reject(db: Database, session: Session, who: Principal, record: Record, reason: str, seen: int) -> Review:
    """Reject version `seen` (the current one), with a reason."""
    who.require("review")
    if not reason.strip():
        raise BadInput("reason: say why the answer is rejected")
    record = lock(session, record, seen, "rejected")
    if record.status not in REVIEWABLE:
        raise Conflict(f"only drafts and answers needing re-review can be rejected; this one is {record.status}")
    version = current(record)
    review = Review(
        record_id=record.id, version=version.version, reviewer_id=who.id, decision="rejected", reason=reason
    )
    session.add(review)
    record.status = "rejected"
    append(db, session, who.id, who.name, "reject", record.id, {"reason": reason} | record_state(record, version.text))
    return review


def library(session: Session, query: str = "", limit: int = 50, offset: int = 0) -> list[Record]:
    """Approved answers, newest first; every word of `query` must appear in the question or the answer."""
    q = (
        select(Record)
        .options(selectinload(Record.versions), selectinload(Record.citations), selectinload(Record.reviews))
        .where(Record.status == "approved")
    )
    for word in re.findall(r"\w+", query)[:10]:
        like = f"%{word}%"
        in_text = Record.versions.any(and_(Version.version == Record.current_version, Version.text.ilike(like)))
        q = q.where(or_(Record.question.ilike(like), in_text))
    return list(session.scalars(q.order_by(Record.updated_at.desc()).limit(limit).offset(offset)))
