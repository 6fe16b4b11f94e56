"""documents' ACL tokens in their own table; indexes for the paginated document list

Revision ID: 0008
Revises: 0007

The document list filters the ACL in SQL: each document's current ACL is also stored as one row
per token (`user:<uid>`, `group:<name>`, `public`) with the document's creation time, indexed
by (token, created_at, document_id), so a page of a principal's readable documents is a few
short index reads, one per token, instead of every row read and checked in Python. Existing
documents get their rows from their ACL columns. The list pages by (created_at, id) and watches
changes by updated_at.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):  # a driver that hands JSON back as text
        value = json.loads(value)
    return [str(item) for item in value or []]


def _backfill(bind: sa.engine.Connection) -> None:
    docs = sa.table(
        "documents",
        sa.column("id"),
        sa.column("acl_users", sa.JSON),
        sa.column("acl_groups", sa.JSON),
        sa.column("acl_public", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    tokens = sa.table(
        "document_acl_tokens",
        sa.column("document_id"),
        sa.column("token"),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = []
    for doc_id, users, groups, public, created in bind.execute(
        sa.select(docs.c.id, docs.c.acl_users, docs.c.acl_groups, docs.c.acl_public, docs.c.created_at)
    ):
        held = {f"user:{u}" for u in _as_list(users)} | {f"group:{g}" for g in _as_list(groups)}
        if public:
            held.add("public")
        rows.extend({"document_id": doc_id, "token": t, "created_at": created} for t in sorted(held))
    if rows:
        bind.execute(sa.insert(tokens), rows)


def upgrade() -> None:
    op.create_table(
        "document_acl_tokens",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("token", sa.String(length=160), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("document_id", "token"),
    )
    op.create_index(
        "ix_document_acl_tokens_token_created_id",
        "document_acl_tokens",
        ["token", "created_at", "document_id"],
    )
    op.create_index("ix_documents_created_at_id", "documents", ["created_at", "id"])
    op.create_index("ix_documents_updated_at", "documents", ["updated_at"])
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_documents_updated_at", table_name="documents")
    op.drop_index("ix_documents_created_at_id", table_name="documents")
    op.drop_index("ix_document_acl_tokens_token_created_id", table_name="document_acl_tokens")
    op.drop_table("document_acl_tokens")
