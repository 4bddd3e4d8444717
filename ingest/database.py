"""What the catalog (`ingest.catalog`) and the review desk (`api.db`) share about their databases: the driver
a `postgresql://` URL means, the pragmas every SQLite connection gets, and PostgreSQL's advisory locks, whose
keys are all here so that no two parts take the same one."""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

# PostgreSQL advisory lock keys.
DESK_MIGRATE_LOCK = 7263  # the desk's migrations
SERIAL_LOCK = 7264  # the desk's serialised writes: audit appends, starting a job after checking none is pending
CLAIM_LOCK = 7265  # job claims (apart, so claims never wait on the audit)
CATALOG_SCHEMA_LOCK = 7266  # changes to the catalog's schema: its migrations, the head cache's table
WRITE_LOCK = 7267  # the index's one writer (session-scoped: `ingest.catalog.Catalog.writer`)
EDITS_LOCK = 7268  # an admin's metadata edits, merged one at a time

# Every SQLite connection, the catalog's and the desk's: readers beside one writer, and cascading deletes.
SQLITE_PRAGMAS = ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL")


def sqlalchemy_url(url: str) -> str:
    """A PostgreSQL URL as people write it (`postgresql://…`) with the driver installed here, psycopg 3."""
    return "postgresql+psycopg://" + url.removeprefix("postgresql://") if url.startswith("postgresql://") else url


def advisory_lock(executor: Connection | Session, key: int) -> None:
    """Hold PostgreSQL's transaction-scoped advisory lock `key` until the transaction ends."""
    executor.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
