"""the first answers to requests sent with an Idempotency-Key

Revision ID: 0010
Revises: 0009

`POST /api/v1/documents` with an `Idempotency-Key` header keeps its answer here, keyed by the
caller's immutable id and the key, with the SHA-256 of what was asked; a retry gets the same
answer, a reuse of the key for another request is refused. Rows older than a day are replaced.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotent_replies",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_idempotent_replies_created_at", "idempotent_replies", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotent_replies_created_at", table_name="idempotent_replies")
    op.drop_table("idempotent_replies")
