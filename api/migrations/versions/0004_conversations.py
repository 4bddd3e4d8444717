"""Conversations: a thread of turns, each an answer record with its own evidence, verification and review.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Records asked before this revision belong to no conversation (conversation_id and turn are NULL) and stay
in "My answers" and the review queue as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_conversations_owner_id"), "conversations", ["owner_id"], unique=False)
    # Plain ADD COLUMN, as both databases do in place: SQLite cannot add a foreign key to an existing table
    # without copying it (and the copy trips the citations' own keys), so the desk, which alone writes
    # records, checks the conversation; the unique (conversation, turn) pair is a unique index.
    op.add_column("records", sa.Column("conversation_id", sa.String(length=32), nullable=True))
    op.add_column("records", sa.Column("turn", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_records_conversation_id"), "records", ["conversation_id"], unique=False)
    op.create_index("uq_records_conversation_turn", "records", ["conversation_id", "turn"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("uq_records_conversation_turn")
        batch_op.drop_index(batch_op.f("ix_records_conversation_id"))
        batch_op.drop_column("turn")
        batch_op.drop_column("conversation_id")
    op.drop_index(op.f("ix_conversations_owner_id"), table_name="conversations")
    op.drop_table("conversations")
