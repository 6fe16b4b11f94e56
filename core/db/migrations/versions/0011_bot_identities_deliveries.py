"""chat accounts bound to users, bot events claimed once, bot threads' conversations

Revision ID: 0011
Revises: 0010

`chat_identities` binds a Slack or Teams account to a Sillok user's immutable id on first
contact (by verified email). `bot_deliveries` claims each delivered event once and keeps its
answer until posted. `bot_threads` maps a chat thread (per asker and audience) to a conversation.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_identities",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("tenant", sa.String(128), primary_key=True),
        sa.Column("external_id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chat_identities_user_id", "chat_identities", ["user_id"])
    op.create_table(
        "bot_deliveries",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("event_key", sa.String(255), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(36), nullable=False),
        sa.Column("reply", sa.JSON(), nullable=True),
        sa.Column("message_ref", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bot_deliveries_created_at", "bot_deliveries", ["created_at"])
    op.create_table(
        "bot_threads",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("thread_key", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.String(36), primary_key=True),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bot_threads")
    op.drop_index("ix_bot_deliveries_created_at", table_name="bot_deliveries")
    op.drop_table("bot_deliveries")
    op.drop_index("ix_chat_identities_user_id", table_name="chat_identities")
    op.drop_table("chat_identities")
