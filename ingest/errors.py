"""The domain's error tree. `api/` maps these to HTTP status codes in one place."""

from __future__ import annotations


class RegassistError(Exception):
    """Base of every error regassist raises on purpose."""


class IngestError(RegassistError):
    """A file could not be ingested; the message names the file and the reason."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason

    def __reduce__(self) -> tuple[type[IngestError], tuple[str, str]]:
        # Errors cross the process boundary from the parse worker: rebuild them from both fields.
        return (type(self), (self.file, self.reason))


class NeedsOCR(IngestError):
    """A PDF with no text layer: it is reported, never indexed as empty."""


class IndexMismatch(RegassistError):
    """The index was built with another embedding model or chunker than the one configured."""


class NotFound(RegassistError):
    """A document, chunk or record that does not exist."""


class ConfigError(RegassistError):
    """A setting is missing or wrong; the message says what to do."""
