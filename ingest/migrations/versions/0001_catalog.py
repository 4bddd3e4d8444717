"""The catalog as it was before migrations: documents, pages, chunks, meta and an admin's edits.

Revision ID: 0001
Revises:
Create Date: 2026-12-03

A catalog file written before migrations already has these tables (some without the pages' label and OCR
confidence): they are kept, and only what is missing is added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "meta" not in have:
        op.create_table(
            "meta", sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text, nullable=False)
        )
    if "documents" not in have:
        op.create_table(
            "documents",
            sa.Column("document_id", sa.Text, primary_key=True),
            sa.Column("file", sa.Text, nullable=False, unique=True),
            *(sa.Column(name, sa.Text, nullable=False) for name in ("title", "issuing_body", "jurisdiction")),
            *(sa.Column(name, sa.Text, nullable=False) for name in ("doc_type", "status")),
            sa.Column("year", sa.Integer),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("licence", sa.Text, nullable=False),
            sa.Column("pages", sa.Integer, nullable=False),
            sa.Column("size_bytes", sa.BigInteger, nullable=False),
            sa.Column("ingested_at", sa.Float, nullable=False),
        )
    if "pages" not in have:
        op.create_table(
            "pages",
            sa.Column(
                "document_id", sa.Text, sa.ForeignKey("documents.document_id", ondelete="CASCADE"), nullable=False
            ),
            sa.Column("number", sa.Integer, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("label", sa.Text, nullable=False, server_default=""),
            sa.Column("ocr_confidence", sa.Float),
            sa.PrimaryKeyConstraint("document_id", "number"),
        )
    else:
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pages")}
        with op.batch_alter_table("pages") as batch:
            if "label" not in columns:  # catalogs written before Word sections and OCR
                batch.add_column(sa.Column("label", sa.Text, nullable=False, server_default=""))
            if "ocr_confidence" not in columns:
                batch.add_column(sa.Column("ocr_confidence", sa.Float))
    if "chunks" not in have:
        op.create_table(
            "chunks",
            sa.Column("chunk_id", sa.Text, primary_key=True),
            sa.Column(
                "document_id", sa.Text, sa.ForeignKey("documents.document_id", ondelete="CASCADE"), nullable=False
            ),
            sa.Column("ordinal", sa.Integer, nullable=False),
            sa.Column("section", sa.Text, nullable=False),
            sa.Column("heading_path", sa.Text, nullable=False),
            *(
                sa.Column(name, sa.Integer, nullable=False)
                for name in ("page_start", "page_end", "char_start", "char_end")
            ),
            sa.Column("kind", sa.Text, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("embed_text", sa.Text, nullable=False),
        )
        op.create_index("chunks_by_document", "chunks", ["document_id", "ordinal"])
    if "edits" not in have:
        # An admin's corrections of a document's metadata, by file name: they outlive its versions, so a
        # re-upload or a re-ingest of the folder (whose manifest.json may say otherwise) keeps them.
        op.create_table(
            "edits",
            sa.Column("file", sa.Text, primary_key=True),
            sa.Column("fields", sa.Text, nullable=False),
            sa.Column("edited_at", sa.Float, nullable=False),
        )


def downgrade() -> None:
    for name in ("edits", "chunks", "pages", "documents", "meta"):
        op.drop_table(name)
