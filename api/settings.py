"""Service settings: env prefix REGASSIST_, read on demand."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Where the review desk keeps its records, and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="REGASSIST_", extra="ignore")

    data_dir: Path = Path(".regassist")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/desk.sqlite3 (postgresql://… works)"
    )
    # The first admin's token. Unset: a random one is printed once, on the first start, and never again.
    admin_token: SecretStr | None = None
    # The audit log's MAC key. Unset: a random key in <data_dir>/audit.key (0600), created on the first start.
    # Set it (from a secrets store) to keep the key off the machine that holds the database.
    audit_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    corpus_dir: Path = Field(default=Path("corpus"), description="Ingested on first start when the index is empty")
    # Uploaded originals and evaluation reports. Every process that serves or works must see the same files,
    # so on several machines this is a shared volume; unset, they are kept in data_dir.
    files_dir: Path | None = None
    max_upload_bytes: int = 50 * 1024 * 1024
    max_question_chars: int = 2000
    # Every other request body (JSON) is capped well above the largest valid one (a 20,000-character edit).
    max_json_bytes: int = 256 * 1024
    # A request's headers must arrive within header_timeout_s; each part of its body within body_timeout_s,
    # and the whole within body_timeout_s plus its length at body_min_bytes_per_s (a 50 MB upload gets about
    # 17 minutes, a JSON body 15 s at most); idle keep-alive connections close after keep_alive_s.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    body_min_bytes_per_s: float = 50_000.0
    keep_alive_s: int = 5
    # Failed sign-ins are audited, at most this many entries per client address (`limits` notation).
    failed_auth_audit_limit: str = "10/minute"
    # Per token, moving window (`limits` notation). Questions cost about 0.1 s of CPU each.
    rate_limit: str = "120/minute"
    rate_limit_enabled: bool = True
    # Where the counts live (a `limits` storage URI): memory:// counts in each process, so N processes allow
    # N times the limit; redis://host:6379/0 counts once across every process and machine.
    rate_limit_storage: str = "memory://"
    # Answers computed at once; the rest wait their turn in order. Extractive answering is CPU-bound, so more
    # at once than cores only share them and stretch the slowest answers: at 32 clients on 2 cores, p95 went
    # from 3.8 s (no cap) to 1.2 s (cap 2), throughput unchanged (benchmarks/api_load.py). Raise it for a
    # remote LLM backend, whose answers mostly wait on the network.
    max_concurrent_answers: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=256)
    # Background jobs (ingest, removal, evaluation) live in the database's jobs table; any worker takes any
    # job: the service's own worker thread (run_jobs) and every `regassist worker` process. A worker renews
    # its lease on a running job every job_lease_s / 3; a job whose lease lapses (its worker was killed) goes
    # back to the queue at once if the worker was on this machine and is gone, after job_lease_s otherwise,
    # and fails after job_max_attempts takes. Idle workers look for work every job_poll_s.
    run_jobs: bool = Field(default=True, description="Run a worker thread in the service process")
    job_lease_s: float = Field(default=30.0, gt=0)
    job_poll_s: float = Field(default=1.0, gt=0)
    job_max_attempts: int = Field(default=3, ge=1)

    @property
    def db_url(self) -> str:
        """The database URL in effect."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'desk.sqlite3').resolve()}"

    @property
    def audit_key_file(self) -> Path:
        """The audit key's file, beside the database but outside it."""
        return self.data_dir / "audit.key"

    @property
    def audit_checkpoints(self) -> Path:
        """The append-only file of signed audit checkpoints."""
        return self.data_dir / "audit-checkpoints.jsonl"

    def audit_secret(self, create: bool = False) -> bytes:
        """The audit key in effect (see `api.audit.load_key`)."""
        from api.audit import load_key

        given = self.audit_key.get_secret_value() if self.audit_key else None
        return load_key(self.audit_key_file, given, create=create)

    def database(self, create_key: bool = False):  # type: ignore[no-untyped-def]
        """The desk database with its audit key and checkpoint file (not migrated)."""
        from api.db import Database

        return Database(self.db_url, self.audit_secret(create_key), self.audit_checkpoints)

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded documents are kept (the files the index was built from)."""
        return (self.files_dir or self.data_dir) / "uploads"

    @property
    def eval_dir(self) -> Path:
        """Where evaluation runs started from the web write their reports."""
        return (self.files_dir or self.data_dir) / "eval-runs"
