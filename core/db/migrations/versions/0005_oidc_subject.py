"""bind OIDC accounts to the issuer's subject

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("oidc_subject", sa.String(length=512), nullable=True))
        batch.create_index("ix_users_oidc_subject", ["oidc_subject"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_oidc_subject")
        batch.drop_column("oidc_subject")
