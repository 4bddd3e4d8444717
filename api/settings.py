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
    host: str = "127.0.0.1"
    port: int = 8000
    corpus_dir: Path = Field(default=Path("corpus"), description="Ingested on first start when the index is empty")
    max_upload_bytes: int = 50 * 1024 * 1024
    max_question_chars: int = 2000
    # Per token, moving window (`limits` notation). Questions cost about 0.1 s of CPU each.
    rate_limit: str = "120/minute"
    rate_limit_enabled: bool = True
    # Answers computed at once; the rest wait their turn in order. Extractive answering is CPU-bound, so more
    # at once than cores only share them and stretch the slowest answers: at 32 clients on 2 cores, p95 went
    # from 3.8 s (no cap) to 1.2 s (cap 2), throughput unchanged (benchmarks/api_load.py). Raise it for a
    # remote LLM backend, whose answers mostly wait on the network.
    max_concurrent_answers: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=256)

    @property
    def db_url(self) -> str:
        """The database URL in effect."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'desk.sqlite3').resolve()}"

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded documents are kept (the files the index was built from)."""
        return self.data_dir / "uploads"

    @property
    def eval_dir(self) -> Path:
        """Where evaluation runs started from the web write their reports."""
        return self.data_dir / "eval-runs"
