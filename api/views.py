"""Tables to response bodies."""

from __future__ import annotations

from api.auth import Principal
from api.models import Job, Record, User
from api.schemas import (
    CitationOut,
    FeedbackOut,
    JobOut,
    RecordDetail,
    RecordOut,
    ReviewOut,
    UserOut,
    VersionOut,
)


def record_out(r: Record) -> RecordOut:
    """A record's current state."""
    v = r.versions[-1]
    return RecordOut(
        id=r.id,
        question=r.question,
        asker=r.asker.name,
        status=r.status,
        abstained=r.abstained,
        abstain_reason=r.abstain_reason,
        text=v.text,
        current_version=v.version,
        claims=v.claims,
        citations=[CitationOut.model_validate(c) for c in r.citations],
        warnings=list(r.answer.get("warnings", [])) if v.version == 1 else [],
        rereview=r.rereview,
        backend=r.backend,
        model=r.model,
        prompt_version=r.prompt_version,
        index_version=r.index_version,
        created_at=r.created_at,
        updated_at=r.updated_at,
        conversation_id=r.conversation_id,
        turn=r.turn,
        context=(r.answer.get("searched") or {}).get("context"),
    )


def record_detail(r: Record, who: Principal | None = None) -> RecordDetail:
    """A record with its history and full provenance; its readers' ratings, all of them for those who
    read feedback, the viewer's own otherwise."""
    shown = [f for f in r.feedback if who is not None and (who.can("feedback.read") or f.user_id == who.id)]
    # Someone reading another's approved answer from the library sees what was approved, and its approval:
    # not the drafts before it or the reasons they were sent back.
    whole = who is None or who.can("records.read_all") or r.asker_id == who.id
    versions = r.versions if whole else [v for v in r.versions if v.version == r.current_version]
    reviews = r.reviews if whole else [x for x in r.reviews if x.version == r.current_version]
    return RecordDetail(
        **record_out(r).model_dump(),
        versions=[
            VersionOut(
                version=v.version,
                text=v.text,
                claims=v.claims,
                diff=v.diff if whole else "",
                note=v.note,
                author=v.author.name if v.author else "assistant",
                created_at=v.created_at,
            )
            for v in versions
        ],
        reviews=[
            ReviewOut(
                version=x.version,
                reviewer=x.reviewer.name,
                decision=x.decision,
                reason=x.reason,
                documents=x.documents,
                created_at=x.created_at,
            )
            for x in reviews
        ],
        # The assistant's first draft and everything it retrieved stay with the asker and reviewers too: for
        # an answer a reviewer edited, it is text that was not approved.
        answer=r.answer if whole else {},
        settings=r.settings,
        feedback=[
            FeedbackOut(
                user=f.user.name, helpful=f.helpful, reason=f.reason, version=f.version, created_at=f.created_at
            )
            for f in shown
        ],
        helpful=sum(f.helpful for f in r.feedback),
        unhelpful=sum(not f.helpful for f in r.feedback),
    )


def job_out(j: Job) -> JobOut:
    """A job's state."""
    return JobOut(
        id=j.id,
        kind=j.kind,
        status=j.status,
        done=j.done,
        total=j.total,
        params={k: v for k, v in j.params.items() if k != "keep_as"},
        result=j.result,
        error=j.error,
        created_at=j.created_at,
        finished_at=j.finished_at,
    )


def user_out(u: User) -> UserOut:
    """A user."""
    return UserOut.model_validate(u)
