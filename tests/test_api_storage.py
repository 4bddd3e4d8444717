"""Storage: the migrations build exactly the models' schema, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from api.db import Database, migrate
from api.models import Base
from tests.conftest import DeskEnv
from tests.test_api_review import Q_PDF


def _diff(db: Database) -> list[object]:
    with db.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def test_migrations_build_the_models_schema_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'desk.sqlite3'}")
    migrate(db.engine)
    migrate(db.engine)  # a second run is a no-op
    assert _diff(db) == []
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0006"  # the newest
    assert {"audit", "records", "record_versions", "citations", "reviews", "users", "tokens", "jobs"} <= set(
        inspect(db.engine).get_table_names()
    )


def test_citations_written_before_page_labels_keep_their_page_after_the_upgrade(tmp_path: Path) -> None:
    """A desk file made by the previous release (schema 0002) is upgraded in place: its citations keep
    their page and quote, and read as the page number (label ""), as they did."""
    from alembic import command

    from api.db import alembic_config

    path = tmp_path / "desk.sqlite3"
    db = Database(f"sqlite:///{path}")
    cfg = alembic_config(db.engine)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO records (id, asker_id, question, status, abstained, abstain_reason, answer, settings,"
            " backend, model, prompt_version, index_version, current_version, created_at, updated_at)"
            " VALUES ('r1', 1, 'q', 'approved', 0, NULL, '{}', '{}', 'extractive', '', 'p1', 'i1', 1,"
            " '2026-11-30 00:00:00', '2026-11-30 00:00:00')"
        )
        raw.execute(
            "INSERT INTO citations (record_id, n, document_id, file, title, section, page, quote, chunk_id,"
            " quote_start, quote_end, doc_status) VALUES ('r1', 1, 'd1', 'a.pdf', 'A', '4', 7, 'A quote.', 'c1', 0, 8,"
            " 'final')"
        )
    migrate(db.engine)
    assert _diff(db) == []
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT page, quote, page_label FROM citations").fetchall() == [(7, "A quote.", "")]


def test_migrations_build_the_models_schema_on_postgresql(postgres: str) -> None:
    db = Database(postgres)
    migrate(db.engine)
    assert _diff(db) == []
    db.engine.dispose()


def test_the_desk_works_the_same_on_postgresql(fresh_postgres: str, make_desk: object) -> None:
    postgres = fresh_postgres
    env: DeskEnv = make_desk(database_url=postgres)  # type: ignore[operator]
    assert env.desk.db.engine.dialect.name == "postgresql"
    # The catalog moves into PostgreSQL too: the data folder's catalog file (a desk on PostgreSQL kept it
    # there before) is copied in on the first start and kept under another name, so nothing needs ingesting.
    assert env.startup.corpus_job is None
    assert not (env.settings.data_dir / "catalog.sqlite3").exists()
    assert (env.settings.data_dir / "catalog.sqlite3.imported").is_file()
    import psycopg

    with psycopg.connect(postgres) as conn:
        assert conn.execute("SELECT count(*) FROM catalog.documents").fetchone() == (3,)
    rec = env.ask(Q_PDF)
    r = env.client.post(
        f"/api/records/{rec['id']}/approve",
        json={"version": env.version(rec["id"]), "reason": "ok"},
        headers=env.auth("reviewer"),
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert [
        x["id"] for x in env.client.get("/api/library", params={"q": "audit"}, headers=env.auth("staff")).json()
    ] == [rec["id"]]
    md = env.client.post("/api/export", json={"ids": [rec["id"]]}, headers=env.auth("consultant")).text
    assert "EU GMP Annex 11: Computerised Systems, section 9, page 4" in md
    chain = env.client.get("/api/audit/verify", headers=env.auth("admin")).json()
    assert chain["ok"] is True and chain["entries"] >= 7
    import psycopg

    with psycopg.connect(postgres) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("UPDATE audit SET user_name = 'someone else'")
    with psycopg.connect(postgres) as conn, pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("DELETE FROM audit")
