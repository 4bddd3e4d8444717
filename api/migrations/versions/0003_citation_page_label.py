"""Citation page labels: how a reader names the cited page, stored with the citation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A Word file's "pages" are its heading-delimited sections, so a citation to page 3 of an SOP means
"§4.2 Deviations", and a scanned page is "p. 3 (OCR)". The label is stored as the answer cited it, so the
desk, the review queue and an export name the page the reviewer saw even after the document is replaced.
Citations written before this revision keep "" and are named by page number, as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("citations", sa.Column("page_label", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("citations", schema=None) as batch_op:
        batch_op.drop_column("page_label")
