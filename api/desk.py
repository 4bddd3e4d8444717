"""The review desk wired in one place: database, index, assistant, background jobs and rate limit."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from limits import parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import select

from api.audit import append
from api.auth import Principal, bootstrap_admin, hash_token
from api.db import Database, migrate, serialise
from api.errors import RateLimited
from api.jobs import UNFINISHED, JobRunner
from api.models import Job, User
from api.pages import Originals, PageImages
from api.settings import ApiSettings
from api.sources import check_sources
from assistant.llm import ChatBackend
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.embedding import EncodingEmbedder
from ingest.pipeline import Index
from ingest.settings import IngestSettings

log = logging.getLogger("regassist.desk")


def rate_limit_storage(uri: str) -> Storage:
    """The `limits` storage the per-token counts live in: this process's memory, or a Redis that every
    process on every machine counts in. An unreachable Redis is refused at start, naming the setting."""
    shown = re.sub(r"//[^/@]*@", "//***@", uri)  # never a password in a log
    storage = storage_from_string(uri)
    if not isinstance(storage, Storage):
        raise ValueError(f"REGASSIST_RATE_LIMIT_STORAGE={shown!r}: an async storage; use its plain scheme")
    if not isinstance(storage, MemoryStorage) and not storage.check():
        raise ConnectionError(f"REGASSIST_RATE_LIMIT_STORAGE={shown!r}: the rate-limit storage does not answer")
    return storage


@dataclass(frozen=True)
class Startup:
    """What a person starting the service needs to know."""

    admin_created: bool
    admin_token: str | None
    corpus_job: str | None


class Desk:
    """Everything a request handler needs, built once per app."""

    def __init__(
        self,
        settings: ApiSettings,
        ingest: IngestSettings | None = None,
        assistant: AssistantSettings | None = None,
        embedder: EncodingEmbedder | None = None,
        chat: ChatBackend | None = None,
    ) -> None:
        self.settings = settings
        # The desk's database is the catalog's too when it is PostgreSQL (ingest.settings.shared_store).
        ingest = (ingest or IngestSettings(data_dir=settings.data_dir)).model_copy(
            update={"database_url": settings.database_url}
        )
        assistant = assistant or AssistantSettings(max_question_chars=settings.max_question_chars)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db: Database = settings.database(create_key=True)
        migrate(self.db.engine)
        self.index = Index(ingest, embedder)
        self.assistant = Assistant(self.index, assistant, chat)
        self.jobs = JobRunner(self)
        self.originals = Originals([settings.uploads_dir, settings.corpus_dir])
        self.page_images = PageImages(settings.data_dir / "page-images")
        self._limits = parse_many(settings.rate_limit)
        self._limiter = MovingWindowRateLimiter(rate_limit_storage(settings.rate_limit_storage))
        self._auth_limit = parse_many(settings.failed_auth_audit_limit)[0]
        self._auth_limiter = MovingWindowRateLimiter(self._limiter.storage)
        self._auth_suppressed: dict[str, int] = {}
        self._auth_lock = threading.Lock()
        self._generation = -1
        self._sources_lock = threading.Lock()
        self.answer_slots = threading.BoundedSemaphore(settings.max_concurrent_answers)

    def start(self) -> Startup:
        """Create the first admin if there is none, check sources, start the worker, and queue the bundled
        corpus for ingest when the index is empty."""
        s = self.settings
        with self.db.session() as session:
            created, token = bootstrap_admin(session, s.admin_token.get_secret_value() if s.admin_token else None)
        self.check_sources()
        if s.run_jobs:
            self.jobs.start()
        job = None
        if not self.index.catalog.documents() and s.corpus_dir.is_dir():
            with self.db.session() as session:
                # Several service processes may start at once on one database: the first queues the corpus.
                serialise(session)
                pending = session.scalar(
                    select(Job.id).where(Job.kind == "ingest", Job.status.in_(UNFINISHED)).limit(1)
                )
                if pending is None:
                    admin = session.scalars(select(User).where(User.role == "admin").order_by(User.id)).first()
                    assert admin is not None
                    new = self.jobs.submit_in(session, "ingest", admin.id, {"paths": [str(s.corpus_dir.resolve())]})
                    job = new.id
            if job is not None:
                self.jobs.notify()
        return Startup(created, token, job)

    def close(self) -> None:
        """Stop the worker and release connections."""
        self.jobs.stop()
        self.index.close()
        self.db.engine.dispose()

    def check_sources(self) -> list[str]:
        """Mark approved answers whose sources changed since the last look (cheap when nothing changed).

        The one path for this check: request handlers and the ingest worker both call it, and the lock keeps
        them from marking (and auditing) the same change twice.
        """
        with self._sources_lock:
            gen = self.index.catalog.generation()
            if gen == self._generation:
                return []
            with self.db.session() as session:
                marked = check_sources(self.db, session, self.index.catalog)
            self._generation = gen
            return marked

    def live_documents(self) -> dict[str, str]:
        """File name to live document hash."""
        return {r["file"]: r["document_id"] for r in self.index.catalog.documents()}

    def audit_auth_failure(self, address: str, path: str, reason: str, token: str, bounded: bool = True) -> None:
        """Audit a refused token. Unknown tokens add at most `failed_auth_audit_limit` entries per client
        address (beyond it they are counted, and the next entry says how many were not); a revoked token or
        a disabled user's is always written."""
        if bounded and not self._auth_limiter.hit(self._auth_limit, "auth", address):
            with self._auth_lock:
                self._auth_suppressed[address] = self._auth_suppressed.get(address, 0) + 1
            return
        detail: dict[str, object] = {"reason": reason, "path": path}
        if token:
            detail["token_sha256_prefix"] = hash_token(token)[:12]
        with self._auth_lock:
            skipped = self._auth_suppressed.pop(address, 0)
        if skipped:
            detail["not_logged_before_this"] = skipped
        with self.db.session() as session:
            append(self.db, session, None, "anonymous", "auth.fail", address, detail)

    def audit_denied(self, who: Principal, method: str, path: str, reason: str) -> None:
        """Audit a refusal (403) of a signed-in user, four-eyes refusals among them."""
        with self.db.session() as session:
            append(self.db, session, who.id, who.name, "denied", f"{method} {path}", {"reason": reason})

    def rate_limit(self, who: Principal) -> None:
        """Count one request against the token's limits."""
        if not self.settings.rate_limit_enabled:
            return
        for item in self._limits:
            if not self._limiter.hit(item, "token", who.token_hash):
                reset = self._limiter.get_window_stats(item, "token", who.token_hash).reset_time
                raise RateLimited(
                    f"rate limit of {item} per token reached; try again later", max(1, int(reset - time.time()))
                )
