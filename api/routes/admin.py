"""Sign-in, users and tokens, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api import audit
from api.auth import create_user, rotate_token
from api.deps import AuditUser, DeskDep, ReviewUser, SessionDep, UserAdmin, UserDep
from api.errors import BadInput
from api.models import AuditEntry, User
from api.schemas import ChainOut, SessionOut, TokenOut, UserIn, UserOut
from api.views import user_out
from ingest.errors import NotFound

router = APIRouter(prefix="/api", tags=["users and audit"])
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
CREDENTIAL_ACTIONS = ("user.create", "user.token", "user.token.claim", "user.disable")


@router.post("/session", response_model=SessionOut, summary="Sign in: check the token and record the login")
def sign_in(desk: DeskDep, session: SessionDep, who: UserDep) -> SessionOut:
    audit.append(desk.db, session, who.id, who.name, "login", who.name, {"role": who.role})
    user = session.get(User, who.id)
    assert user is not None
    # Only a sign-off needs a token nobody else has seen; other roles keep the token they were given.
    return SessionOut(**user_out(user).model_dump(), provisional=who.provisional and who.can("review"))


@router.get("/me", response_model=UserOut, summary="Who the token belongs to")
def me(session: SessionDep, who: UserDep) -> UserOut:
    user = session.get(User, who.id)
    assert user is not None
    return user_out(user)


@router.get("/users", response_model=list[UserOut], summary="Every user")
def users(session: SessionDep, _who: UserAdmin) -> list[UserOut]:
    return [user_out(u) for u in session.scalars(select(User).order_by(User.id))]


@router.post("/users", response_model=TokenOut, status_code=201, summary="Create a user; their token is shown once")
def add_user(body: UserIn, desk: DeskDep, session: SessionDep, who: UserAdmin) -> TokenOut:
    user, token = create_user(session, body.name, body.role, issued_by=who.id)
    audit.append(desk.db, session, who.id, who.name, "user.create", body.name, {"role": body.role, "provisional": True})
    return TokenOut(user=user_out(user), token=token)


def _user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}")
    return user


@router.post("/users/{user_id}/token", response_model=TokenOut, summary="Revoke a user's tokens and issue a new one")
def new_token(user_id: UserId, desk: DeskDep, session: SessionDep, who: UserAdmin) -> TokenOut:
    user = _user(session, user_id)
    token = rotate_token(session, user, issued_by=who.id)
    audit.append(desk.db, session, who.id, who.name, "user.token", user.name, {"role": user.role, "provisional": True})
    return TokenOut(user=user_out(user), token=token)


@router.post(
    "/me/token",
    response_model=TokenOut,
    summary="Exchange your token for a new one that only you have seen (needed before a reviewer signs off)",
)
def claim_token(desk: DeskDep, session: SessionDep, who: UserDep) -> TokenOut:
    user = _user(session, who.id)
    token = rotate_token(session, user, issued_by=None, provisional=False)
    audit.append(desk.db, session, who.id, who.name, "user.token.claim", user.name, {"role": user.role})
    return TokenOut(user=user_out(user), token=token)


@router.get(
    "/review/credentials",
    summary="Changes to reviewers' credentials in the last 30 days, for reviewers to check",
)
def reviewer_credentials(session: SessionDep, _who: ReviewUser) -> list[dict[str, object]]:
    since = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    reviewers = set(session.scalars(select(User.name).where(User.role == "reviewer")))
    q = (
        select(AuditEntry)
        .where(AuditEntry.action.in_(CREDENTIAL_ACTIONS), AuditEntry.at >= since, AuditEntry.target.in_(reviewers))
        .order_by(AuditEntry.id.desc())
        .limit(200)
    )
    return [{"at": e.at, "action": e.action, "by": e.user_name, "reviewer": e.target} for e in session.scalars(q)]


@router.delete("/users/{user_id}", response_model=UserOut, summary="Disable a user (records and audit entries stay)")
def disable_user(user_id: UserId, desk: DeskDep, session: SessionDep, who: UserAdmin) -> UserOut:
    user = _user(session, user_id)
    if user.id == who.id:
        raise BadInput("user_id: an admin cannot disable themselves")
    user.active = False
    audit.append(desk.db, session, who.id, who.name, "user.disable", user.name, {})
    return user_out(user)


@router.get("/audit", summary="Audit entries, newest first")
def audit_log(
    _who: AuditUser,
    session: SessionDep,
    action: str | None = Query(None, max_length=40),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[dict[str, object]]:
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
    if action:
        q = q.where(AuditEntry.action == action)
    return [audit.to_dict(e) for e in session.scalars(q)]


@router.get("/audit/verify", response_model=ChainOut, summary="Recompute the hash chain")
def audit_verify(desk: DeskDep, session: SessionDep, _who: AuditUser) -> ChainOut:
    kept = audit.read_checkpoints(desk.db.checkpoints) if desk.db.checkpoints else []
    c = audit.verify(session, desk.db.audit_key, kept)
    return ChainOut(ok=c.ok, entries=c.entries, first_bad=c.first_bad, problem=c.problem)


@router.get(
    "/audit/export",
    summary="The whole log as JSON lines, with hashes, for checking elsewhere",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def audit_export(desk: DeskDep, who: AuditUser) -> StreamingResponse:
    with desk.db.session() as s:
        audit.append(desk.db, s, who.id, who.name, "audit.export", "", {})
    with desk.db.session() as s:
        lines = list(audit.export_lines(s))
    return StreamingResponse(
        iter(lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="regassist-audit.jsonl"'},
    )
