"""API keys carry scopes and an expiry; users can be service accounts

Revision ID: 0009
Revises: 0008

`api_keys.scopes` is a JSON list of scope names, NULL for a key with all of its owner's rights
(every key issued before this revision stays so); `api_keys.expires_at` is NULL for a key that
never expires. `users.is_service` marks an account that cannot sign in (no password, no
identity-provider binding) and acts only through its API keys.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("scopes", sa.JSON(), nullable=True))
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("is_service", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_service")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("scopes")
