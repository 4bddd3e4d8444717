"""FastAPI dependencies: the desk, the database session and the authenticated user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import Principal
from api.desk import Desk
from api.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="A token from `regassist serve` or an admin")


def get_desk(request: Request) -> Desk:
    """The app's desk."""
    desk: Desk = request.app.state.desk
    return desk


DeskDep = Annotated[Desk, Depends(get_desk)]


def get_session(desk: DeskDep) -> Iterator[Session]:
    """A database session for one request, committed when the handler returns."""
    with desk.db.session() as session:
        yield session


# scope="function": the session commits when the handler returns, before the response is sent. (The default
# commits after sending: a client could use a token it was just given before it exists, and a failed commit
# would follow a 200 that said the approval was stored.)
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_user(
    request: Request, desk: DeskDep, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The user behind the bearer token, counted against the rate limit.

    `api.guard.RequestGuard` checks the token (401 without one) before the body is read and hands the user
    on here; this is the one place the token is checked. `_credentials` only declares the scheme in OpenAPI.
    """
    who: Principal | None = request.scope.get("state", {}).get("principal")
    if who is None:  # not behind the guard: refuse rather than check the token a second way
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    desk.rate_limit(who)
    return who


UserDep = Annotated[Principal, Depends(get_user)]


def needs(permission: str):  # type: ignore[no-untyped-def]
    """A dependency that lets the request through only for roles with `permission`."""

    def check(who: UserDep) -> Principal:
        who.require(permission)
        return who

    check.__name__ = f"needs_{permission.replace('.', '_')}"
    return Depends(check)


AskUser = Annotated[Principal, needs("ask")]
EditUser = Annotated[Principal, needs("records.edit")]
ReviewUser = Annotated[Principal, needs("review")]
LibraryUser = Annotated[Principal, needs("library")]
ExportUser = Annotated[Principal, needs("export")]
DocReader = Annotated[Principal, needs("documents.read")]
DocAdmin = Annotated[Principal, needs("documents.write")]
UserAdmin = Annotated[Principal, needs("users")]
AuditUser = Annotated[Principal, needs("audit")]
EvalUser = Annotated[Principal, needs("evals")]
FeedbackUser = Annotated[Principal, needs("feedback.give")]
FeedbackReader = Annotated[Principal, needs("feedback.read")]
