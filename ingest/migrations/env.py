"""Alembic environment of the catalog: runs on the connection `ingest.catalog.migrate` hands over."""

from __future__ import annotations

from alembic import context

config = context.config


def run() -> None:
    """Apply the catalog's migrations; SQLite needs batch mode for ALTER. Its version table is its own, so a
    catalog sharing a PostgreSQL database with the review desk never reads the desk's."""
    connection = config.attributes["connection"]
    context.configure(connection=connection, version_table="catalog_version", render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
