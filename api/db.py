"""The review desk's database: an engine for SQLite (WAL) or PostgreSQL by URL, migrated with Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from ingest.database import DESK_MIGRATE_LOCK, SERIAL_LOCK, SQLITE_PRAGMAS, advisory_lock, sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine; SQLite files get WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            for pragma in SQLITE_PRAGMAS:
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        return engine
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True)


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's configuration, pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # several processes starting at once migrate one at a time
            advisory_lock(conn, DESK_MIGRATE_LOCK)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def write_lock(session: Session) -> None:
    """Hold the database's write lock until the session's transaction ends.

    SQLite has one writer at a time: `BEGIN IMMEDIATE` takes that lock up front, so what the transaction reads
    next cannot change under it, in this process or another. Python's sqlite3 opens a transaction only before
    the first write, so this works at any point before one; after a write the lock is already held. On
    PostgreSQL, rows are locked where they are read (`SELECT … FOR UPDATE`), so there is nothing to do here.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def serialise(session: Session, key: int = SERIAL_LOCK) -> None:
    """Hold a serialising lock until the session's transaction ends: SQLite's write lock, or on PostgreSQL
    the transaction-scoped advisory lock `key` (rows need not exist to be locked)."""
    if session.get_bind().dialect.name == "postgresql":
        advisory_lock(session, key)
    else:
        write_lock(session)


class Database:
    """Engine and sessions, and the audit key and checkpoint file that the audit log uses.

    After each commit that appended audit entries, a signed checkpoint of the newest one is written to
    `checkpoints` (when set), outside the database.
    """

    def __init__(self, url: str, audit_key: bytes = b"", checkpoints: Path | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.audit_key = audit_key
        self.checkpoints = checkpoints
        event.listen(self.sessions, "after_commit", self._after_commit)
        event.listen(self.sessions, "after_rollback", lambda s: s.info.pop("audit_head", None))

    def _after_commit(self, session: Session) -> None:
        head = session.info.pop("audit_head", None)
        if head is not None and self.checkpoints is not None:
            from api.audit import checkpoint, write_checkpoint

            write_checkpoint(self.checkpoints, checkpoint(self.audit_key, *head))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is a SQLite file."""
        return self.engine.dialect.name == "sqlite"
