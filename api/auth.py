"""Users, bearer tokens (stored hashed) and the role matrix every endpoint checks."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import BadInput, Forbidden, Unauthorized
from api.models import ROLES, Token, User

# What each role may do. Reviewers approve but cannot export; admins manage documents and users but do
# not approve answers: who signs off is kept apart from who runs the system.
PERMISSIONS: dict[str, frozenset[str]] = {
    "ask": frozenset({"staff", "consultant", "reviewer"}),
    "records.read_all": frozenset({"reviewer", "admin"}),
    "records.edit": frozenset({"consultant", "reviewer"}),
    "review": frozenset({"reviewer"}),
    "library": frozenset({"staff", "consultant", "reviewer", "admin"}),
    "export": frozenset({"consultant"}),
    "documents.read": frozenset(ROLES),
    "documents.write": frozenset({"admin"}),
    "users": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
    "evals": frozenset({"evaluator"}),
    # Everyone who reads answers in their work says whether one helped; reviewers and evaluators read it.
    "feedback.give": frozenset({"staff", "consultant", "reviewer"}),
    "feedback.read": frozenset({"reviewer", "evaluator"}),
}


# Separation of duties: a sign-off must come from a token only its holder has seen, so an admin cannot
# approve as a reviewer through a token they issued.
SIGN_OFF = frozenset({"review"})


@dataclass(frozen=True)
class Principal:
    """The user a request acts for, and the hash of the token it came with (the rate limit's key)."""

    id: int
    name: str
    role: str
    token_hash: str
    # The token was issued by someone else (an admin, the command line) and not yet exchanged by its holder.
    provisional: bool = False

    def can(self, permission: str) -> bool:
        """Whether the role grants `permission`."""
        return self.role in PERMISSIONS[permission]

    def require(self, permission: str) -> None:
        """Raise Forbidden unless the role grants `permission`."""
        if not self.can(permission):
            allowed = ", ".join(sorted(PERMISSIONS[permission]))
            raise Forbidden(f"role '{self.role}' may not do this ({permission}: {allowed})")
        if permission in SIGN_OFF and self.provisional:
            raise Forbidden(
                "this token was issued by an administrator, who has seen it: exchange it for one only you know "
                "(POST /api/me/token; the web app does this when you sign in) before approving or rejecting"
            )


def hash_token(token: str) -> str:
    """SHA-256 of a token. Tokens are 256 random bits, so a fast unsalted hash is enough: there is no
    dictionary to attack, and a leaked table does not give a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh bearer token."""
    return "ra_" + secrets.token_urlsafe(32)


def authenticate(session: Session, token: str | None) -> Principal:
    """The active user holding this token, or Unauthorized."""
    if not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    h = hash_token(token)
    row = session.execute(select(Token, User).join(User).where(Token.token_hash == h)).first()
    if row is None:
        raise Unauthorized("unknown or revoked token", reason="unknown token")
    # A real token that no longer works is worth an audit entry every time: nobody can mint such tokens.
    if row.Token.revoked_at is not None:
        raise Unauthorized("unknown or revoked token", reason=f"revoked token of {row.User.name}", known=True)
    if not row.User.active:
        raise Unauthorized("unknown or revoked token", reason=f"token of disabled user {row.User.name}", known=True)
    return Principal(row.User.id, row.User.name, row.User.role, h, row.Token.provisional)


def _issue(session: Session, user: User, token: str | None, issued_by: int | None, provisional: bool) -> str:
    token = token or new_token()
    session.add(Token(user_id=user.id, token_hash=hash_token(token), issued_by=issued_by, provisional=provisional))
    return token


def create_user(
    session: Session, name: str, role: str, token: str | None = None, issued_by: int | None = None
) -> tuple[User, str]:
    """A new user and their first token (returned in clear once, stored hashed).

    A token made for someone else (`token` not given) is provisional until its holder exchanges it.
    """
    if role not in ROLES:
        raise BadInput(f"role: must be one of {', '.join(ROLES)}")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise BadInput(f"name: a user called '{name}' exists already")
    user = User(name=name, role=role, active=True)
    session.add(user)
    session.flush()
    return user, _issue(session, user, token, issued_by, provisional=token is None)


def rotate_token(session: Session, user: User, issued_by: int | None, provisional: bool = True) -> str:
    """Revoke a user's tokens and issue a new one (provisional when someone else will see it)."""
    now = datetime.now(UTC)
    for t in session.scalars(select(Token).where(Token.user_id == user.id, Token.revoked_at.is_(None))):
        t.revoked_at = now
    return _issue(session, user, None, issued_by, provisional)


def bootstrap_admin(session: Session, admin_token: str | None) -> tuple[bool, str | None]:
    """Create the first admin when there are no users. Returns (created, token to print once or None).

    With REGASSIST_ADMIN_TOKEN set, that token is the admin's and is not printed; without it, a random
    token is printed once. There is no default password.
    """
    if session.scalar(select(User.id).limit(1)) is not None:
        return False, None
    user, token = create_user(session, "admin", "admin", admin_token)
    # The person starting the service is the admin; the printed token is theirs alone.
    session.flush()
    for t in session.scalars(select(Token).where(Token.user_id == user.id)):
        t.provisional = False
    return True, None if admin_token else token
