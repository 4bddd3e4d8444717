"""Token provenance: who issued a token, and whether its holder has replaced it with one only they know.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

An admin who creates a reviewer, or issues a reviewer a new token, sees that token. Such a token is
provisional: it signs in, but cannot approve or reject until its holder exchanges it (POST /api/me/token)
for one that nobody else has seen. Tokens that existed before this revision stay as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("issued_by", sa.Integer(), nullable=True))
    op.add_column("tokens", sa.Column("provisional", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("provisional")
        batch_op.drop_column("issued_by")
