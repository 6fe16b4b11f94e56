"""ingestion progress: latest version, ACL revisions, enqueue time, attempts and chunks done

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("latest_version", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("acl_revision", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("acl_applied", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("document_versions") as batch:
        batch.add_column(sa.Column("chunks_done", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_document_versions_status", ["status"])


def downgrade() -> None:
    with op.batch_alter_table("document_versions") as batch:
        batch.drop_index("ix_document_versions_status")
        batch.drop_column("enqueued_at")
        batch.drop_column("attempts")
        batch.drop_column("chunks_done")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("acl_applied")
        batch.drop_column("acl_revision")
        batch.drop_column("latest_version")
