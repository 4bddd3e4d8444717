"""Answer records: the review queue, edits, approvals and rejections, the approved library and export."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select

from api import records
from api.audit import append
from api.db import write_lock
from api.deps import (
    DeskDep,
    EditUser,
    ExportUser,
    FeedbackReader,
    FeedbackUser,
    LibraryUser,
    ReviewUser,
    SessionDep,
    UserDep,
)
from api.errors import BadInput
from api.export import Options, to_docx, to_markdown
from api.models import Feedback, Record, utcnow
from api.schemas import ApproveIn, EditIn, ExportIn, FeedbackIn, FeedbackSummary, RecordDetail, RecordOut, RejectIn
from api.views import record_detail, record_out

router = APIRouter(prefix="/api", tags=["records"])
Status = Literal["draft", "approved", "rejected", "needs_rereview"]


@router.get("/records", response_model=list[RecordOut], summary="Your answers (all answers for reviewers and admins)")
def list_records(
    session: SessionDep,
    who: UserDep,
    status: Status | None = None,
    mine: bool = Query(False, description="Only answers you asked"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[RecordOut]:
    q = records.visible(who)
    if status:
        q = q.where(Record.status == status)
    if mine:
        q = q.where(Record.asker_id == who.id)
    rows = session.scalars(q.order_by(Record.created_at.desc()).limit(limit).offset(offset)).all()
    return [record_out(r) for r in rows]


@router.get("/review/queue", response_model=list[RecordOut], summary="Drafts and answers needing re-review")
def queue(desk: DeskDep, session: SessionDep, who: ReviewUser) -> list[RecordOut]:
    desk.check_sources()
    session.expire_all()
    q = records.visible(who).where(Record.status.in_(records.REVIEWABLE))
    rows = session.scalars(q.order_by(Record.status.desc(), Record.created_at)).all()
    return [record_out(r) for r in rows]


@router.get("/records/{record_id}", response_model=RecordDetail, summary="One answer with versions and provenance")
def get_record(record_id: str, session: SessionDep, who: UserDep) -> RecordDetail:
    return record_detail(records.get(session, who, record_id, reading=True), who)


@router.post("/records/{record_id}/edit", response_model=RecordDetail, summary="Edit: a new version, re-verified")
def edit_record(record_id: str, body: EditIn, desk: DeskDep, session: SessionDep, who: EditUser) -> RecordDetail:
    record = records.get(session, who, record_id)
    records.edit(desk.db, session, who, record, body.text, body.note, desk.assistant.verifier, body.version)
    session.flush()
    return record_detail(record, who)


@router.post("/records/{record_id}/approve", response_model=RecordDetail, summary="Approve the current version")
def approve_record(
    record_id: str, body: ApproveIn, desk: DeskDep, session: SessionDep, who: ReviewUser
) -> RecordDetail:
    record = records.get(session, who, record_id)
    records.approve(
        desk.db, session, who, record, body.reason, body.acknowledge_unsupported, desk.live_documents(), body.version
    )
    session.flush()
    session.refresh(record)
    return record_detail(record, who)


@router.post("/records/{record_id}/reject", response_model=RecordDetail, summary="Reject, with a reason")
def reject_record(record_id: str, body: RejectIn, desk: DeskDep, session: SessionDep, who: ReviewUser) -> RecordDetail:
    record = records.get(session, who, record_id)
    records.reject(desk.db, session, who, record, body.reason, body.version)
    session.flush()
    session.refresh(record)
    return record_detail(record, who)


@router.put("/records/{record_id}/feedback", response_model=RecordDetail, summary="Say whether an answer helped")
def give_feedback(
    record_id: str, body: FeedbackIn, desk: DeskDep, session: SessionDep, who: FeedbackUser
) -> RecordDetail:
    """A thumbs up or down on an answer you can read, with a reason (needed for a thumbs down); giving it
    again replaces your earlier one. Audited; reviewers see every reader's, and evaluators count them."""
    if not body.helpful and not body.reason.strip():
        raise BadInput("reason: say what was wrong with the answer, so a reviewer can act on it")
    write_lock(session)  # one rating per person and answer, however many clicks arrive at once
    record = records.get(session, who, record_id, reading=True)
    session.scalar(select(Record.id).where(Record.id == record.id).with_for_update())
    row = session.scalar(select(Feedback).where(Feedback.record_id == record.id, Feedback.user_id == who.id))
    if row is None:
        row = Feedback(record_id=record.id, user_id=who.id, helpful=body.helpful, version=record.current_version)
        session.add(row)
    row.helpful, row.reason, row.version, row.created_at = (
        body.helpful,
        body.reason.strip(),
        record.current_version,
        utcnow(),
    )
    append(
        desk.db,
        session,
        who.id,
        who.name,
        "feedback",
        record.id,
        {"helpful": body.helpful, "reason": row.reason, "version": record.current_version},
    )
    session.flush()
    session.refresh(record)
    return record_detail(record, who)


@router.get("/feedback", response_model=FeedbackSummary, summary="Readers' ratings of answers, with recent complaints")
def feedback_summary(
    session: SessionDep, _who: FeedbackReader, limit: int = Query(20, ge=1, le=200)
) -> FeedbackSummary:
    up = session.scalar(select(func.count()).where(Feedback.helpful.is_(True))) or 0
    down = session.scalar(select(func.count()).where(Feedback.helpful.is_(False))) or 0
    rated = session.scalar(select(func.count(func.distinct(Feedback.record_id)))) or 0
    recent = session.execute(
        select(Feedback, Record.question)
        .join(Record, Record.id == Feedback.record_id)
        .where(Feedback.helpful.is_(False))
        .order_by(Feedback.created_at.desc())
        .limit(limit)
    ).all()
    return FeedbackSummary(
        helpful=up,
        unhelpful=down,
        answers_rated=rated,
        recent_unhelpful=[
            {"record_id": f.record_id, "question": q, "reason": f.reason, "version": f.version, "at": f.created_at}
            for f, q in recent
        ],
    )


@router.get("/library", response_model=list[RecordOut], summary="Approved answers; every word of q must match")
def library(
    _who: LibraryUser,
    desk: DeskDep,
    session: SessionDep,
    q: str = Query("", max_length=200),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[RecordOut]:
    desk.check_sources()  # an answer whose sources changed since approval leaves the library at once
    session.expire_all()
    return [record_out(r) for r in records.library(session, q, limit, offset)]


@router.post(
    "/export",
    summary="Export approved answers as one drafted response (Markdown or DOCX), citations as references",
    responses={
        200: {
            "content": {
                "text/markdown": {},
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {},
            }
        }
    },
)
def export(body: ExportIn, desk: DeskDep, session: SessionDep, who: ExportUser) -> Response:
    desk.check_sources()
    session.expire_all()
    rows = {r.id: r for r in session.scalars(select(Record).where(Record.id.in_(body.ids)))}
    missing = [i for i in body.ids if i not in rows]
    if missing:
        raise BadInput(f"ids: no answer record {', '.join(missing[:5])}")
    not_approved = [i for i in body.ids if rows[i].status != "approved"]
    if not_approved:
        raise BadInput(f"ids: only approved answers can be exported; not approved: {', '.join(not_approved[:5])}")
    chosen = [rows[i] for i in dict.fromkeys(body.ids)]
    unknown = [i for i in body.headings if i not in rows]
    if unknown:
        raise BadInput(f"headings: '{unknown[0]}' is not one of the exported answers")
    append(
        desk.db,
        session,
        who.id,
        who.name,
        "export",
        ",".join(body.ids)[:200],
        {"ids": body.ids, "format": body.format, "version": body.version},
    )
    options = Options(body.title, body.introduction, body.headings, body.version == "client", who.name)
    catalog = desk.index.catalog
    name = "regassist-response" + ("-client" if options.client else "")
    if body.format == "docx":
        return Response(
            to_docx(chosen, options, catalog.cite, catalog.document),
            media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            headers={"Content-Disposition": f'attachment; filename="{name}.docx"'},
        )
    return Response(
        to_markdown(chosen, options, catalog.cite, catalog.document),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.md"'},
    )
