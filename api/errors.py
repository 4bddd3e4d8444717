"""The review desk's errors, and the one place where domain errors become HTTP status codes."""

from __future__ import annotations

from assistant.llm import BackendError
from assistant.service import InvalidQuestion
from ingest.errors import ConfigError, IndexMismatch, IngestError, NotFound, RegassistError


class Unauthorized(RegassistError):
    """No token, or one that is unknown or revoked. `reason` is for the audit log, never for the caller;
    `known`: the token exists (revoked, or its user disabled)."""

    def __init__(self, message: str, reason: str = "", known: bool = False) -> None:
        super().__init__(message)
        self.reason = reason or message
        self.known = known


class Forbidden(RegassistError):
    """The user's role does not allow this, or the record is someone else's."""


class Conflict(RegassistError):
    """The action does not fit the record's state (approving an approved answer, unsupported sentences)."""


class TooLarge(RegassistError):
    """An upload over the size limit."""


class UnsupportedType(RegassistError):
    """An upload of a type not accepted (PDF, .docx, HTML, text, Markdown), or whose content does not fit its name."""


class BadInput(RegassistError):
    """A request that is well-formed JSON but asks for something impossible."""


class RateLimited(RegassistError):
    """Too many requests with one token."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


STATUS: tuple[tuple[type[RegassistError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (UnsupportedType, 415),
    (InvalidQuestion, 422),
    (BadInput, 422),
    (IngestError, 422),
    (RateLimited, 429),
    (BackendError, 502),
    (IndexMismatch, 503),
    (ConfigError, 503),
)


def status_of(exc: RegassistError) -> int:
    """The HTTP status for a domain error (500 only for an error we did not classify)."""
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500
